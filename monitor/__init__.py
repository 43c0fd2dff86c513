"""driftline's core: configuration, baselines, sketches, statistics and evaluation.

Everything in this package except `cli`, `demo` and the exporters is pure: no network,
no Kafka, no clocks read behind the caller's back.
"""

__version__ = "0.1.0"
