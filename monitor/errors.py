"""Every error driftline raises on purpose derives from DriftlineError.

    DriftlineError
    ├── ConfigError          the YAML config does not validate (names the key)
    ├── DataError            reference or window data is unusable (names the column)
    └── BaselineError        a baseline artifact is missing, corrupt or mismatched

Messages name the model, feature or field involved so that a user can act on them
without reading a traceback.
"""


class DriftlineError(Exception):
    """Root of driftline's own errors."""


class ConfigError(DriftlineError):
    """The configuration file is missing, unparsable or fails validation."""


class DataError(DriftlineError):
    """Input data (training file, window batch) cannot be used as given."""


class BaselineError(DriftlineError):
    """A baseline artifact cannot be found, read or trusted."""
