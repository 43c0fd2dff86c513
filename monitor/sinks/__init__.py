"""Where results and rejects go: the Prometheus collector, the Elasticsearch exporter, dead letters."""
