"""`driftline replay`: a historical log of predictions and outcomes through the service, in event
time (history.py reads and orders it, columnar.py turns columns into decoded batches, backtest.py
drives the service)."""
