"""The internals of `monitor.pipeline.events` (batched, columnar message decoding); import from there."""
