"""The pure core: statistics, sketches, the row sample, detectors, performance accumulators.

No I/O, no clock, no network: functions and small mergeable objects over numpy arrays. Nothing here
imports from the rest of driftline but `monitor.errors` (tests/unit/test_layers.py checks it).
"""
