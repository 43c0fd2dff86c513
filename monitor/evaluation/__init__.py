"""Evaluation: compare windows with their baseline (drift, quality, performance) and hold the
results that the sinks, alerts and the API read."""
