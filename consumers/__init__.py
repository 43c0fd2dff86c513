"""The Kafka edge: consumer groups, batching, checkpoint-then-commit, dead-letter topic."""
