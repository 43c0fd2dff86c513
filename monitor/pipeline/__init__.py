"""The streaming pipeline: decode raw messages, route them by model version into windows, join
outcomes to predictions (`Monitor`, in monitor.pipeline.monitor)."""
