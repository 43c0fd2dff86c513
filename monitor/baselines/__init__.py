"""Baselines: build one from reference data, store and show it (versioned, content-hashed)."""
