"""Exporters that ship evaluated windows to external stores (Elasticsearch for Kibana).

The Prometheus collector lives in monitor.sinks.prometheus because it serves the latest results on
scrape; exporters here push every evaluation and must survive the store being down."""
