"""`sources.kafka.client_options`: which keys each Kafka client takes, checked before any connection.

kafka.client: confluent (librdkafka) takes librdkafka property names, dotted (`security.protocol`,
`sasl.username`, `ssl.ca.location`, ...: librdkafka's CONFIGURATION.md lists them). The kafka-python
names of the common security and fetch settings are accepted too and translated (the table below),
so a config written for kafka-python keeps working after the switch; a kafka-python name with no
librdkafka equivalent is an error naming it.

kafka.client: kafka-python takes KafkaConsumer / KafkaProducer keyword names (`security_protocol`,
`sasl_plain_username`, `ssl_cafile`, ...). Each client gets the keys it knows (a consumer-only key
does not reach the dead-letter producer); a key neither knows, or a dotted librdkafka name, is an
error naming it.

Either way, keys driftline sets itself (the group, commits, the assignor, the timeouts that have
their own field in `sources.kafka`) are refused with the field to use instead: a second value
would either be ignored or break the exactly-once rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from monitor.errors import ConfigError

# kafka-python keyword -> librdkafka property, where the meaning and the values are the same.
KAFKA_PYTHON_TO_LIBRDKAFKA: Final[dict[str, str]] = {
    "client_id": "client.id",
    "client_rack": "client.rack",
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "sasl_kerberos_service_name": "sasl.kerberos.service.name",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
    "ssl_password": "ssl.key.password",
    "ssl_crlfile": "ssl.crl.location",
    "ssl_ciphers": "ssl.cipher.suites",
    "fetch_min_bytes": "fetch.min.bytes",
    "fetch_max_bytes": "fetch.max.bytes",
    "fetch_max_wait_ms": "fetch.wait.max.ms",
    "max_partition_fetch_bytes": "max.partition.fetch.bytes",
    "isolation_level": "isolation.level",
    "check_crcs": "check.crcs",
    "metadata_max_age_ms": "metadata.max.age.ms",
    "connections_max_idle_ms": "connections.max.idle.ms",
    "reconnect_backoff_ms": "reconnect.backoff.ms",
    "retry_backoff_ms": "retry.backoff.ms",
    "receive_buffer_bytes": "socket.receive.buffer.bytes",
    "send_buffer_bytes": "socket.send.buffer.bytes",
    "group_instance_id": "group.instance.id",
}

# Keys driftline sets, in both spellings -> what to write instead.
_MANAGED: Final[dict[str, str]] = {
    **{
        name: f"sources.kafka.{field}"
        for field, names in {
            "bootstrap_servers": ("bootstrap_servers", "bootstrap.servers", "metadata.broker.list"),
            "group_id": ("group_id", "group.id"),
            "session_timeout_ms": ("session_timeout_ms", "session.timeout.ms"),
            "heartbeat_interval_ms": ("heartbeat_interval_ms", "heartbeat.interval.ms"),
            "max_poll_interval_ms": ("max_poll_interval_ms", "max.poll.interval.ms"),
            "max_poll_records": ("max_poll_records",),
            "reconnect_backoff_max_ms": ("reconnect_backoff_max_ms", "reconnect.backoff.max.ms"),
        }.items()
        for name in names
    },
    **dict.fromkeys(
        (
            "enable_auto_commit",
            "enable.auto.commit",
            "enable.auto.offset.store",
            "auto_offset_reset",
            "auto.offset.reset",
            "partition_assignment_strategy",
            "partition.assignment.strategy",
            "group.protocol",
            "enable.partition.eof",
            "key_deserializer",
            "value_deserializer",
            "key_serializer",
            "value_serializer",
            "acks",
            "enable_idempotence",
            "enable.idempotence",
        ),
        "nothing: driftline sets it (offsets live in the state store, partitions of both topics are "
        "assigned together, dead letters are sent with acks=all)",
    ),
}


def _where(key: str) -> str:
    return f"sources.kafka.client_options.{key}"


def _refuse_managed(options: Mapping[str, Any]) -> None:
    for key in options:
        if key in _MANAGED:
            raise ConfigError(f"{_where(key)}: driftline sets this itself; use {_MANAGED[key]}")


def librdkafka_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options for confluent-kafka: librdkafka names as they are, kafka-python names translated.
    Whether librdkafka knows a dotted name is checked when the client is made (it names the key)."""
    _refuse_managed(options)
    translated: dict[str, Any] = {}
    for key, value in options.items():
        if "." in key:
            name = key
        elif key in KAFKA_PYTHON_TO_LIBRDKAFKA:
            name = KAFKA_PYTHON_TO_LIBRDKAFKA[key]
        else:
            raise ConfigError(
                f"{_where(key)}: not a librdkafka property, and a kafka-python option without a "
                f"librdkafka equivalent; kafka.client is confluent: use librdkafka's name (dotted, "
                f"e.g. security.protocol), or set sources.kafka.client: kafka-python"
            )
        if name in translated:
            raise ConfigError(f"{_where(key)}: {name} is given twice (once by its kafka-python name)")
        translated[name] = value
    _refuse_managed(translated)
    return translated


def kafka_python_options(
    options: Mapping[str, Any], consumer_keys: set[str], producer_keys: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(consumer options, producer options) for kafka-python: each gets the keys it knows."""
    _refuse_managed(options)
    for key in options:
        if "." in key:
            raise ConfigError(
                f"{_where(key)}: a librdkafka property name, but kafka.client is kafka-python: use the "
                f"kafka-python keyword (e.g. security_protocol), or set sources.kafka.client: confluent"
            )
        if key not in consumer_keys and key not in producer_keys:
            raise ConfigError(
                f"{_where(key)}: neither KafkaConsumer nor KafkaProducer (kafka-python) has this option"
            )
    consumer = {k: v for k, v in options.items() if k in consumer_keys}
    producer = {k: v for k, v in options.items() if k in producer_keys}
    return consumer, producer
