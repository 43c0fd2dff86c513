"""sources.kafka.client_options: each client gets the names it takes; a key that does not fit the
chosen client fails before any connection, naming the key."""

import pytest
from kafka import KafkaConsumer, KafkaProducer

from consumers.kafka_client_choice import check_client_options
from consumers.kafka_options import KAFKA_PYTHON_TO_LIBRDKAFKA, kafka_python_options, librdkafka_options
from monitor.config import KafkaConfig, parse_config
from monitor.errors import ConfigError

CONSUMER_KEYS, PRODUCER_KEYS = set(KafkaConsumer.DEFAULT_CONFIG), set(KafkaProducer.DEFAULT_CONFIG)


def kafka(client: str, **options: object) -> KafkaConfig:
    return KafkaConfig(bootstrap_servers=["127.0.0.1:9"], client=client, client_options=options)


def test_confluent_takes_librdkafka_names_and_translates_kafka_python_ones() -> None:
    got = librdkafka_options(
        {
            "security_protocol": "SASL_SSL",
            "sasl_plain_username": "u",
            "sasl.password": "p",
            "fetch.min.bytes": 1,
        }
    )
    assert got == {
        "security.protocol": "SASL_SSL",
        "sasl.username": "u",
        "sasl.password": "p",
        "fetch.min.bytes": 1,
    }


def test_every_translation_is_a_kafka_python_option() -> None:
    assert set(KAFKA_PYTHON_TO_LIBRDKAFKA) <= CONSUMER_KEYS | PRODUCER_KEYS


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"api_version": (2, 0)}, "client_options.api_version: not a librdkafka property"),
        ({"ssl_cafile": "a", "ssl.ca.location": "b"}, "ssl.ca.location is given twice"),
        (
            {"group.id": "x"},
            "client_options.group.id: driftline sets this itself; use sources.kafka.group_id",
        ),
        ({"session_timeout_ms": 10}, "use sources.kafka.session_timeout_ms"),
        ({"enable.auto.commit": True}, "client_options.enable.auto.commit: driftline sets this itself"),
    ],
)
def test_confluent_refuses_what_does_not_fit(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.").replace("(", r"\(")):
        librdkafka_options(options)


def test_kafka_python_gives_each_client_the_keys_it_knows() -> None:
    consumer, producer = kafka_python_options(
        {"security_protocol": "SSL", "fetch_max_bytes": 1, "linger_ms": 5}, CONSUMER_KEYS, PRODUCER_KEYS
    )
    assert consumer == {"security_protocol": "SSL", "fetch_max_bytes": 1}
    assert producer == {"security_protocol": "SSL", "linger_ms": 5}


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"security.protocol": "SSL"}, "client_options.security.protocol: a librdkafka property name"),
        ({"no_such_option": 1}, "client_options.no_such_option: neither KafkaConsumer nor KafkaProducer"),
        ({"acks": 1}, "client_options.acks: driftline sets this itself"),
        ({"bootstrap_servers": "x:1"}, "use sources.kafka.bootstrap_servers"),
    ],
)
def test_kafka_python_refuses_what_does_not_fit(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        kafka_python_options(options, CONSUMER_KEYS, PRODUCER_KEYS)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"socket.nagle.disable.typo": True}, 'No such configuration property: "socket.nagle.disable.typo"'),
        ({"security.protocol": "carrier-pigeon"}, 'for configuration property "security.protocol"'),
    ],
)
def test_librdkafka_names_the_property_it_refuses_at_start_up(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        check_client_options(kafka("confluent", **options))


def test_valid_options_pass_the_start_up_check_on_either_client() -> None:
    check_client_options(kafka("confluent", **{"client.id": "driftline-test", "ssl_cafile": "/dev/null"}))
    check_client_options(kafka("kafka-python", client_id="driftline-test", fetch_max_bytes=1 << 20))


def test_the_client_defaults_to_confluent_when_installed() -> None:
    assert KafkaConfig(bootstrap_servers=["x:1"]).client == "confluent"
    with pytest.raises(ValueError, match="client"):
        KafkaConfig(bootstrap_servers=["x:1"], client="librdkafka")  # type: ignore[arg-type]


def test_driftline_run_refuses_a_misfit_option_before_it_starts(tmp_path) -> None:
    from consumers.runner import build_sources
    from tests.unit import stream_world as world

    data = world.config().model_dump(mode="json")
    data["sources"] = {
        "kafka": {
            "bootstrap_servers": ["127.0.0.1:9"],
            "client": "kafka-python",
            "client_options": {"ssl.ca.location": "x"},
        }
    }
    with pytest.raises(ConfigError, match=r"client_options\.ssl\.ca\.location: a librdkafka property name"):
        build_sources(parse_config(data))
