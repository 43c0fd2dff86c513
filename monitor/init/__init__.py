"""`driftline init`: a first config and baseline from a training file (see command.py)."""
