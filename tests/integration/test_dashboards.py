"""The Grafana dashboards work: every panel query, run against a real Prometheus that scrapes the real
service (with the repo's recording rules), returns data.

Grafana cannot run here, so the test does what Grafana would: substitute the template variables
into each target's PromQL and query Prometheus. The stream is fed in two steps with scrapes in
between, so counters grow while Prometheus watches and the 5-minute rates are non-zero.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from alerts.config import AlertsConfig
from consumers.runner import attach_sinks
from monitor.api.app import ApiServer
from monitor.config import StateConfig
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.integration.conftest import PrometheusServer
from tests.unit import stream_world as world

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = REPO_ROOT / "dashboards" / "grafana"
PROMETHEUS_DIR = REPO_ROOT / "dashboards" / "prometheus"
RULES = PROMETHEUS_DIR / "driftline.rules.yml"
DASHBOARDS = [GRAFANA_DIR / "fleet-overview.json", GRAFANA_DIR / "model-drilldown.json"]

# What Grafana would put in place of each variable for the seeded world: its one model version and
# "All" (allValue ".*") for features. Intervals are short because the test runs for seconds.
VARIABLE_VALUES = {
    "model": "m",
    "model_version": "1",
    "feature": ".*",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
}
EXPECTED_VARIABLE_VALUES = {"model": ["m"], "model_version": ["1"], "feature": sorted(world.FEATURES)}
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
SAMPLE_NAME = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)", re.MULTILINE)
POLL_S = 20.0


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title / refId, PromQL) for every target of every panel."""
    return [(f"{p['title']} / {t['refId']}", t["expr"]) for p in panels(dashboard) for t in p["targets"]]


def substitute(promql: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in VARIABLE_VALUES:
            raise AssertionError(f"the test has no value for the dashboard variable ${name} in {promql!r}")
        return VARIABLE_VALUES[name]

    return VARIABLE.sub(value, promql)


def metric_names(promql: str) -> set[str]:
    """Metric and recording-rule names in a query: identifiers outside string literals that start
    with `driftline_` or contain a colon (level:metric:operation)."""
    unquoted = re.sub(r'"[^"]*"', "", promql)
    return {n for n in IDENTIFIER.findall(unquoted) if n.startswith("driftline_") or ":" in n}


def recording_rules() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}


def feed(service: Service, windows: range, rng: np.random.Generator, extra: list[bytes]) -> None:
    """Hours `windows` of the seeded world; x1 shifts by 0.8 sd from hour 6. Hour 0 gets outcomes for
    only half its predictions, so the rest expire once the stream is past the 6 h TTL."""
    for i in windows:
        preds, outs = world.messages(
            i, 500, rng, shift=0.8 if i >= 6 else 0.0, outcome_every=2 if i == 0 else 1
        )
        service.handle(RawBatch(predictions=[m for _, m in preds], outcomes=[m for _, m in outs]))
    service.handle(RawBatch(predictions=extra, outcomes=[]))


def prediction(pid: str, hour: int) -> bytes:
    features = {"x1": 0.1, "x2": -0.2, "x3": 1.0, "c1": "a", "c2": "u"}
    body = {"prediction_id": pid, "model": "m", "model_version": "1", "timestamp": hour * 3600 + 5}
    return orjson.dumps({**body, "features": features, "prediction": "0"})


def wait_for_finite(prom: PrometheusServer, promql: str) -> list[Any]:
    """Poll until the query returns a series with a finite value (NaN alone means no data to plot)."""
    deadline = time.monotonic() + POLL_S
    while True:
        result = prom.query(promql)
        if any(math.isfinite(float(s["value"][1])) for s in result) or time.monotonic() >= deadline:
            return result
        time.sleep(0.25)


@pytest.fixture
def live(prometheus_server: Any, tmp_path: Path) -> Any:
    """The real service, with its alert engine (default rules, a log receiver), fed a drifting
    stream, scraped every second by a real Prometheus that evaluates the repo's recording rules.
    Yields (prometheus, metrics text)."""
    cfg = world.config()
    alerts = AlertsConfig.model_validate({"receivers": [{"name": "log", "kind": "log"}]})
    state = StateConfig(url=f"sqlite:///{tmp_path / 'state.db'}")  # the alert engine's store
    cfg = cfg.model_copy(update={"alerts": alerts, "state": state})
    service = Service(
        cfg, {("m", "1"): world.baseline(cfg)}, MemoryDeadLetters(), clock=lambda: datetime.now(UTC)
    )
    attach_sinks(service, cfg)
    metrics = ApiServer(service, "127.0.0.1", 0)
    try:
        rng = np.random.default_rng(5)
        ghost = orjson.dumps({"prediction_id": "ghost", "model": "m", "timestamp": 10, "outcome": "1"})
        service.handle(RawBatch(predictions=[b"{not json"], outcomes=[ghost]))
        feed(service, range(0, 6), rng, extra=[b"{not json"])
        service.evaluate()
        prom = prometheus_server([f"127.0.0.1:{metrics.port}"], scrape_interval="1s", rule_files=[RULES])
        prom.wait_for('driftline_predictions_total{model="m"} == 3000', timeout=30)
        time.sleep(2)  # a few scrapes of the first step, so the second step shows as an increase
        # Step 2: the drifted hours, a late prediction (hour 0 is closed), a repeated id (of hour 8,
        # still open: a repeat for a closed hour counts late), a bad message.
        late_and_duplicate = [prediction("late-1", 0), prediction("8-0", 8), b"[1, 2"]
        feed(service, range(6, 9), rng, extra=late_and_duplicate)
        service.evaluate(flush=True)
        prom.wait_for('driftline_predictions_total{model="m"} == 4502', timeout=30)
        prom.wait_for('model_version:driftline_predictions:rate5m{model="m"} > 0', timeout=30)
        with urllib.request.urlopen(metrics.metrics_url, timeout=10) as response:
            text = response.read().decode()
        yield prom, text
    finally:
        metrics.close()
        service.close_sinks()


def test_dashboards_against_the_live_service(live: Any) -> None:
    """One Prometheus run serves three checks (starting Prometheus costs ~6 s)."""
    prom, text = live
    check_panel_queries(prom)
    check_template_variables(prom)
    check_metric_names(text)


def check_panel_queries(prom: PrometheusServer) -> None:
    empty = []
    for path in DASHBOARDS:
        for where, promql in exprs(load(path)):
            if not wait_for_finite(prom, substitute(promql)):
                empty.append(f"{path.name}: {where}: {promql}")
    assert not empty, "panel queries with no finite data:\n" + "\n".join(empty)

    # A few values that show the queries mean what their titles say.
    p50 = next(e for _, e in exprs(load(DASHBOARDS[0])) if e.startswith("histogram_quantile(0.5,"))
    assert 300 < float(prom.query(substitute(p50))[0]["value"][1]) <= 900  # outcomes come 600 s later
    share = prom.query('driftline_drift_share_ratio{model="m"}')
    assert float(share[0]["value"][1]) == pytest.approx(0.2)  # x1 alone of the five features drifted
    assert float(prom.query("model_version:driftline_predictions:rate5m")[0]["value"][1]) > 0
    assert float(prom.query("driftline:rejected_messages:ratio_rate5m")[0]["value"][1]) > 0
    accuracy = prom.query(substitute('driftline_accuracy_ratio{model=~"$model"}'))
    assert {s["metric"]["window"] for s in accuracy} == {"latest", "reference"}


def check_template_variables(prom: PrometheusServer) -> None:
    for path in DASHBOARDS:
        for variable in load(path)["templating"]["list"]:
            match = LABEL_VALUES.match(variable["query"].strip())
            assert match, f"{path.name}: ${variable['name']} is not a label_values() query"
            params = {"match[]": substitute(match["selector"])} if match["selector"] else {}
            values = prom.api_get(f"label/{match['label']}/values", **params)
            assert sorted(values) == EXPECTED_VARIABLE_VALUES[variable["name"]], path.name


def check_metric_names(metrics_text: str) -> None:
    """Every name a dashboard or rule uses is exported by the service or recorded by a rule."""
    exported = set(SAMPLE_NAME.findall(metrics_text))
    rules = recording_rules()
    for expr in rules.values():
        assert metric_names(expr) - exported - set(rules) == set(), expr
    for path in DASHBOARDS:
        dashboard = load(path)
        queries = [e for _, e in exprs(dashboard)] + [v["query"] for v in dashboard["templating"]["list"]]
        used = set().union(*(metric_names(q) for q in queries))
        assert used, path.name
        missing = {n for n in used if n not in exported and n not in rules}
        assert not missing, f"{path.name} uses names neither exported nor recorded: {sorted(missing)}"


def test_dashboards_are_well_formed() -> None:
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources.yml").read_text())
    uids = {d["uid"] for d in datasources["datasources"]}
    providers = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards.yml").read_text())["providers"]
    assert providers and all(p["type"] == "file" and p["options"]["path"] for p in providers)
    uids_seen = set()
    for path in DASHBOARDS:
        dashboard = load(path)
        assert dashboard["schemaVersion"] >= 39
        assert dashboard["uid"] not in uids_seen
        uids_seen.add(dashboard["uid"])
        names = [v["name"] for v in dashboard["templating"]["list"]]
        assert {"model", "model_version"} <= set(names)
        assert all(v["datasource"]["uid"] in uids for v in dashboard["templating"]["list"])
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        cells: set[tuple[int, int]] = set()
        for p in dashboard["panels"]:
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24, f"{path.name}: {p['title']} is wider than the grid"
            area = {(g["x"] + dx, g["y"] + dy) for dx in range(g["w"]) for dy in range(g["h"])}
            assert not area & cells, f"{path.name}: {p['title']} overlaps another panel"
            cells |= area
        for p in panels(dashboard):
            assert p["targets"], f"{path.name}: {p['title']} has no query"
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), f"{path.name}: {p['title']} repeats a refId"
            assert p["datasource"]["uid"] in uids
            assert all(t["datasource"]["uid"] in uids for t in p["targets"])
            for t in p["targets"]:
                substitute(t["expr"])  # raises on a variable the dashboard does not define
                assert {m.group(1) or m.group(2) for m in VARIABLE.finditer(t["expr"])} <= {
                    *names,
                    *(n for n in VARIABLE_VALUES if n.startswith("__")),
                }, f"{path.name}: {p['title']} uses an undefined variable"


def test_prometheus_config_and_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: run `bash scripts/setup.sh` (Debian package prometheus)")
    config = PROMETHEUS_DIR / "prometheus.yml"
    for args in (["check", "config", str(config)], ["check", "rules", str(RULES)]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    parsed = yaml.safe_load(config.read_text())
    assert [(PROMETHEUS_DIR / f).resolve() for f in parsed["rule_files"]] == [RULES.resolve()]
    jobs = {j["job_name"]: j for j in parsed["scrape_configs"]}
    assert jobs["driftline"]["static_configs"][0]["targets"] == ["driftline:9108"]
    # Grafana's $__rate_interval is only right when the data source knows the scrape interval.
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources.yml").read_text())
    intervals = {d["jsonData"]["timeInterval"] for d in datasources["datasources"]}
    assert intervals == {parsed["global"]["scrape_interval"]}
