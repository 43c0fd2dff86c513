"""`sources.kafka.client` -> an implementation of `consumers/kafka_client.py`'s interface.

Each implementation is imported only when chosen, so an installation without confluent-kafka
still runs on kafka-python; choosing confluent without it installed is a clear error.
"""

from __future__ import annotations

from importlib import util as importlib_util

from consumers.kafka_client import ConsumerClient, ProducerClient
from monitor.config import KafkaConfig
from monitor.errors import ConfigError


def confluent_installed() -> bool:
    return importlib_util.find_spec("confluent_kafka") is not None


def _require_client(config: KafkaConfig) -> None:
    if config.client == "confluent" and not confluent_installed():
        raise ConfigError(
            "sources.kafka.client is confluent, but confluent-kafka is not installed: install it "
            "(it is pinned in pyproject.toml) or set sources.kafka.client: kafka-python"
        )


def check_client_options(config: KafkaConfig) -> None:
    """Fail now, naming the key, if `client_options` do not fit the chosen client."""
    _require_client(config)
    if config.client == "confluent":
        from consumers.confluent_client import check_settings
    else:
        from consumers.kafka_python_client import check_settings
    check_settings(config)


def open_consumer(config: KafkaConfig) -> ConsumerClient:
    _require_client(config)
    if config.client == "confluent":
        from consumers.confluent_client import ConfluentConsumer

        return ConfluentConsumer(config)
    from consumers.kafka_python_client import KafkaPythonConsumer

    return KafkaPythonConsumer(config)


def open_dead_letter_producer(config: KafkaConfig) -> ProducerClient | None:
    if config.dead_letter_topic is None:
        return None
    _require_client(config)
    if config.client == "confluent":
        from consumers.confluent_client import ConfluentProducer

        return ConfluentProducer(config)
    from consumers.kafka_python_client import KafkaPythonProducer

    return KafkaPythonProducer(config)
