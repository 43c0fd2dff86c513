"""The internals of `monitor.events` (batched, columnar message decoding); import from there."""
