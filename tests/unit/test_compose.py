"""docker-compose.yml, the Dockerfile and deploy/driftline.yml agree with each other and with the
code: no Docker engine runs here, so this is what keeps the stack from rotting."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import DriftlineConfig, load_config
from monitor.demo.run import write_config
from monitor.state.factory import embedded_path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = {
    "kafka",
    "elasticsearch",
    "kibana",
    "kibana-setup",
    "prometheus",
    "alertmanager",
    "grafana",
    "demo-baseline",
    "driftline",
    "demo-producer",
}
ONE_SHOT = {"kibana-setup", "demo-baseline", "demo-producer"}
# Environment variables of our own image that Python itself reads.
PYTHON_ENV = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def config_path_in_container(service: dict[str, Any]) -> str:
    command = service["command"]
    return str(command[command.index("--config") + 1])


def deploy_config(services: dict[str, Any]) -> tuple[DriftlineConfig, str]:
    """The driftline config the compose service reads, and the container path it is mounted at."""
    target = config_path_in_container(services["driftline"])
    sources = [v.split(":")[0] for v in services["driftline"]["volumes"] if v.split(":")[1] == target]
    assert len(sources) == 1, f"nothing mounted at {target}"
    return load_config(REPO_ROOT / sources[0]), target


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.split("//")[-1], int(port)


def test_the_stack_has_its_services_and_their_dependencies_exist(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        if name not in ONE_SHOT:
            assert "healthcheck" in service, f"{name} has no healthcheck"


def test_driftline_config_points_at_compose_services(services: dict[str, Any]) -> None:
    config, _ = deploy_config(services)
    assert config.sources.kafka is not None
    for address in config.sources.kafka.bootstrap_servers:
        host, port = host_port(address)
        assert host in services
        listeners = services[host]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        assert f"//{host}:{port}" in listeners
    assert config.sinks.elasticsearch is not None
    host, port = host_port(config.sinks.elasticsearch.url)
    assert host == "elasticsearch" and port == 9200 and host in services
    assert services["kibana"]["environment"]["ELASTICSEARCH_HOSTS"] == f'["{config.sinks.elasticsearch.url}"]'
    for receiver in config.alerts.receivers:
        if receiver.url is not None and receiver.kind == "alertmanager":
            host, port = host_port(receiver.url)
            assert host in services and f"{port}:{port}" in services[host]["ports"]
    assert config.alerts.receivers, "the compose Alertmanager gets no alerts"
    # Metrics must listen on all interfaces of the container, where Prometheus scrapes them.
    assert config.api.host == "0.0.0.0"
    assert f"{config.api.port}:{config.api.port}" in services["driftline"]["ports"]


def test_prometheus_scrapes_the_driftline_metrics_port(services: dict[str, Any]) -> None:
    config, _ = deploy_config(services)
    scrape = yaml.safe_load((REPO_ROOT / "dashboards" / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in scrape["scrape_configs"] for s in job["static_configs"] for t in s["targets"]]
    assert f"driftline:{config.api.port}" in targets
    # Rule files resolve beside prometheus.yml: each must be mounted next to it.
    mounted = {v.split(":")[1] for v in services["prometheus"]["volumes"]}
    for rules in scrape["rule_files"]:
        assert f"/etc/prometheus/{rules}" in mounted
    datasources = yaml.safe_load((REPO_ROOT / "dashboards/grafana/provisioning/datasources.yml").read_text())
    host, _ = host_port(datasources["datasources"][0]["url"])
    assert host in services


def test_every_file_mounted_from_the_repo_exists(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name} mounts {source}, which is not in the repo"


def test_state_baselines_and_spill_live_on_the_shared_volume(services: dict[str, Any]) -> None:
    config, target = deploy_config(services)
    assert config.sinks.elasticsearch is not None
    data_mount = next(
        v.split(":")[1] for v in services["driftline"]["volumes"] if v.startswith("driftline-data:")
    )
    paths = [
        config.baselines.path,
        config.sources.dead_letters,
        config.sinks.elasticsearch.spill_dir,
        embedded_path(config.state.url, None),
    ]
    for path in paths:
        assert str(path).startswith(data_mount + "/"), path
    # The baseline step and the producer see the same config and baselines as the service.
    for name in ("demo-baseline", "demo-producer"):
        assert config_path_in_container(services[name]) == target
        assert set(services[name]["volumes"]) == set(services["driftline"]["volumes"])


def test_deploy_model_is_the_demo_model_the_producer_streams(
    services: dict[str, Any], tmp_path: Path
) -> None:
    config, _ = deploy_config(services)
    demo = load_config(write_config(tmp_path, 9108))
    assert config.models == demo.models


def test_driftline_environment_is_read_by_the_code(services: dict[str, Any]) -> None:
    config, _ = deploy_config(services)
    assert config.sinks.elasticsearch is not None
    es = config.sinks.elasticsearch
    read = {es.password_env, es.api_key_env, config.api.api_key_env} - {None}
    for name in ("driftline", "demo-baseline", "demo-producer"):
        unknown = set(services[name].get("environment", {})) - read - PYTHON_ENV
        assert not unknown, f"{name} sets {unknown}, which driftline does not read"
    assert set(services["driftline"]["environment"]) == read


def test_dockerfile_builds_the_locked_package_and_runs_the_config(services: dict[str, Any]) -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "-c requirements-lock.txt" in dockerfile
    copied = re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, re.M)
    # The native modules compile in a build stage; the image installs the wheel it makes.
    assert re.search(r"^RUN pip wheel .* --wheel-dir /wheels \.$", dockerfile, re.M)
    assert "COPY --from=build /wheels /wheels" in dockerfile
    for source in copied:
        assert (REPO_ROOT / source).exists(), source
    # `pip install .` in the image installs only the packages pyproject.toml lists.
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for package in ("monitor", "consumers", "alerts"):
        assert package in copied and f"{package}*" in packages["find"]["include"], package
    _, target = deploy_config(services)
    assert f'CMD ["driftline", "run", "--config", "{target}"]' in dockerfile
    assert "EXPOSE 9108" in dockerfile


def test_the_demo_is_a_profile_that_the_service_does_not_need(services: dict[str, Any]) -> None:
    """`docker compose up` with one's own model must start: the demo's baseline job and producer
    run only with `--profile demo`, and nothing outside the profile waits on them for sure."""
    demo = {name for name, service in services.items() if "demo" in service.get("profiles", [])}
    assert demo == {"demo-baseline", "demo-producer"}
    for name, service in services.items():
        if name in demo:
            continue
        assert not service.get("profiles"), f"{name} must run without a profile"
        for dependency, condition in service.get("depends_on", {}).items():
            if dependency in demo:
                assert condition.get("required") is False, f"{name} would never start without the demo"


def test_the_readme_gives_both_ways_to_bring_ones_own_baseline() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "docker compose --profile demo up --build" in readme
    assert "/api/v1/models/" in readme and "baseline build" in readme
