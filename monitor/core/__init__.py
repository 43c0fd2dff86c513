"""The pure core: statistics, sketches, the row sample, detectors, performance accumulators, and
(not wired into the pipeline yet) estimated performance, multivariate drift, segments and version
comparison, each as fit -> mergeable window summary -> frozen result.

No I/O, no clock, no network: functions and small mergeable objects over numpy arrays. Nothing here
imports from the rest of driftline but `monitor.errors` (tests/unit/test_layers.py checks it);
scikit-learn is used to fit models at baseline-build time and for the domain classifier.
"""
