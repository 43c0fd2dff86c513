"""Durable state: the StateStore protocol (store.py), its SQLite and PostgreSQL backends, the
factory that picks one from `state.url` (factory.py), and group commit."""
