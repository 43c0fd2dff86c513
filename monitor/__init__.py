"""driftline's service: baselines, the streaming pipeline, evaluation, state, sinks, the HTTP API.

The subpackages follow the data (ARCHITECTURE.md): `core` is pure (no I/O, no clock), and a
layer imports only the layers below it (tests/unit/test_layers.py).
"""

__version__ = "0.1.0"
