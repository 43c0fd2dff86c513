"""The Grafana dashboards work for every kind of model: every panel query, run against a real
Prometheus that scrapes the real service (with the repo's recording rules), returns data for a
classifier with scores (`churn`) and for a regressor (`price`).

Grafana cannot run here, so the test does what Grafana would: evaluate the template variables
(label_values queries) for the model picked, substitute them into each target's PromQL and query
Prometheus. A row repeated over a variable is drawn once per value of it, so its panels are checked
with each value; a kind's rows must be drawn for that kind (the classifier's performance rows for
churn, the regression row for price) and every drawn panel must return data. The stream is fed in
two steps with scrapes in between, so counters grow while Prometheus watches and the 5-minute rates
are non-zero.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
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
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.integration.conftest import PrometheusServer
from tests.unit import results_world as world

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = REPO_ROOT / "dashboards" / "grafana"
PROMETHEUS_DIR = REPO_ROOT / "dashboards" / "prometheus"
RULES = PROMETHEUS_DIR / "driftline.rules.yml"
DASHBOARDS = [GRAFANA_DIR / "fleet-overview.json", GRAFANA_DIR / "model-drilldown.json"]

# The world's two kinds of model, and the repeated rows each must get (by their variable).
KIND_ROWS = {"churn": {"classifier", "scored"}, "price": {"regressor"}}
# What Grafana puts in place of the variables that are not queried: "All" (allValue ".*") for
# versions and features; intervals short because the test runs for seconds.
FIXED_VALUES = {
    "model_version": ".*",
    "feature": ".*",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
}
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
SAMPLE_NAME = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)", re.MULTILINE)
POLL_S = 20.0
HOURS_BEFORE_SCRAPE = 6
HOURS = 9
PER_HOUR = 500


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def drawn_sections(dashboard: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """(variable of the repeated row it sits in, or None; panel) for every panel, in order."""
    sections, repeat = [], None
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            repeat = panel.get("repeat")
        else:
            sections.append((repeat, panel))
    return sections


def exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title / refId, PromQL) for every target of every panel."""
    return [(f"{p['title']} / {t['refId']}", t["expr"]) for p in panels(dashboard) for t in p["targets"]]


def substitute(promql: str, values: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise AssertionError(f"the test has no value for the dashboard variable ${name} in {promql!r}")
        return values[name]

    return VARIABLE.sub(value, promql)


def variable_values(prom: PrometheusServer, variable: dict[str, Any], values: Mapping[str, str]) -> list[str]:
    """What Grafana lists for a label_values() variable, given the values chosen before it."""
    match = LABEL_VALUES.match(variable["query"].strip())
    assert match, f"${variable['name']} is not a label_values() query"
    params = {"match[]": substitute(match["selector"], values)} if match["selector"] else {}
    return sorted(prom.api_get(f"label/{match['label']}/values", **params))


def metric_names(promql: str) -> set[str]:
    """Metric and recording-rule names in a query: identifiers outside string literals that start
    with `driftline_` or contain a colon (level:metric:operation)."""
    unquoted = re.sub(r'"[^"]*"', "", promql)
    return {n for n in IDENTIFIER.findall(unquoted) if n.startswith("driftline_") or ":" in n}


def recording_rules() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}


def feed(service: Service, hours: range, rng: np.random.Generator, extra: list[bytes]) -> None:
    """Hours `hours` of both models; each drifts from hour 6 (churn in spend, price in area). Hour
    0 gets outcomes for only half its predictions, so the rest expire once the stream is past the
    6 h TTL."""
    for hour in hours:
        for model in world.MODELS:
            predictions, outcomes = world.messages(model, hour, PER_HOUR, rng, drift=hour >= 6)
            kept = outcomes[::2] if hour == 0 else outcomes
            service.handle(RawBatch(predictions=predictions, outcomes=kept))
    service.handle(RawBatch(predictions=extra, outcomes=[]))


# One ordinary row of features per model, for the hand-made late and repeated predictions.
FEATURE_ROW = {
    "churn": {"age": 40.0, "spend": 50.0, "plan": "basic"},
    "price": {"rooms": 3.0, "area": 90.0, "city": "north"},
}


def prediction(model: str, pid: str, hour: int) -> bytes:
    body = {
        "prediction_id": pid,
        "model": model,
        "model_version": "1",
        "timestamp": world.START_S + hour * world.HOUR_S + 5,
        "features": FEATURE_ROW[model],
        "prediction": "0" if model == "churn" else 120_000.0,
    }
    return orjson.dumps(body | ({"score": 0.2} if model == "churn" else {}))


def ghost_outcome(model: str) -> bytes:
    outcome = "1" if model == "churn" else 100_000.0
    body = {"prediction_id": "ghost", "model": model, "timestamp": world.START_S, "outcome": outcome}
    return orjson.dumps(body)


def wait_for_finite(prom: PrometheusServer, promql: str) -> list[Any]:
    """Poll until the query returns a series with a finite value (NaN alone means no data to plot)."""
    deadline = time.monotonic() + POLL_S
    while True:
        result = prom.query(promql)
        if any(math.isfinite(float(s["value"][1])) for s in result) or time.monotonic() >= deadline:
            return result
        time.sleep(0.25)


@pytest.fixture
def live(prometheus_server: Any, tmp_path: Path) -> Iterator[tuple[PrometheusServer, str]]:
    """The real service, with its alert engine (default rules, a log receiver), fed both models'
    drifting streams, scraped every second by a real Prometheus that evaluates the repo's recording
    rules. Yields (prometheus, metrics text)."""
    alerts = AlertsConfig.model_validate({"receivers": [{"name": "log", "kind": "log"}]})
    cfg = world.decided_by_p_values(world.config(tmp_path), "churn")  # both regimes of `auto`
    cfg = cfg.model_copy(update={"alerts": alerts})  # state.db in tmp_path: the alert engine's store
    # Reference performance measured on held-out rows, so every performance panel has its reference.
    built = {(model, "1"): world.baseline(cfg, model, held_out=2000) for model in world.MODELS}
    service = Service(cfg, built, MemoryDeadLetters(), clock=lambda: datetime.now(UTC))
    attach_sinks(service, cfg)
    metrics = ApiServer(service, "127.0.0.1", 0)
    try:
        rng = np.random.default_rng(5)
        ghosts = [ghost_outcome(model) for model in world.MODELS]
        service.handle(RawBatch(predictions=[b"{not json"], outcomes=ghosts))
        feed(service, range(HOURS_BEFORE_SCRAPE), rng, extra=[b"{not json"])
        service.evaluate()
        prom = prometheus_server([f"127.0.0.1:{metrics.port}"], scrape_interval="1s", rule_files=[RULES])
        before = HOURS_BEFORE_SCRAPE * PER_HOUR
        prom.wait_for(f'driftline_predictions_total{{model="price"}} == {before}', timeout=30)
        time.sleep(2)  # a few scrapes of the first step, so the second step shows as an increase
        # Step 2: the drifted hours, per model a late prediction (hour 0 is closed) and a repeated
        # id (of hour 8, still open: a repeat for a closed hour counts late), a bad message.
        late_and_duplicate = [
            *(prediction(model, f"late-{model}", 0) for model in world.MODELS),
            *(prediction(model, f"{model}-8-0", 8) for model in world.MODELS),
            b"[1, 2",
        ]
        feed(service, range(HOURS_BEFORE_SCRAPE, HOURS), rng, extra=late_and_duplicate)
        service.evaluate(flush=True)
        for model in world.MODELS:
            total = HOURS * PER_HOUR + 2  # with its late and repeated predictions
            prom.wait_for(f'driftline_predictions_total{{model="{model}"}} == {total}', timeout=30)
        prom.wait_for('model_version:driftline_predictions:rate5m{model="price"} > 0', timeout=30)
        with urllib.request.urlopen(metrics.metrics_url, timeout=10) as response:
            text = response.read().decode()
        yield prom, text
    finally:
        metrics.close()
        service.close_sinks()


def test_dashboards_against_the_live_service(live: Any) -> None:
    """One Prometheus run serves every check (starting Prometheus costs ~6 s)."""
    prom, text = live
    for model, rows in KIND_ROWS.items():
        check_panel_queries(prom, model, rows)
        check_template_variables(prom, model)
    check_values(prom)
    check_metric_names(text)


def chosen_values(prom: PrometheusServer, dashboard: dict[str, Any], model: str) -> dict[str, list[str]]:
    """Every variable's values as Grafana would list them with `model` picked (in order: a
    variable's query may use the ones before it)."""
    values = {"model": model, **FIXED_VALUES}
    listed = {}
    for variable in dashboard["templating"]["list"]:
        listed[variable["name"]] = variable_values(prom, variable, values)
    return listed


def check_panel_queries(prom: PrometheusServer, model: str, kind_rows: set[str]) -> None:
    """Every panel Grafana draws for `model` returns finite data, and the rows of its kind are drawn."""
    empty, drawn_rows = [], set()
    for path in DASHBOARDS:
        dashboard = load(path)
        listed = chosen_values(prom, dashboard, model)
        for repeat, panel in drawn_sections(dashboard):
            scopes = [None] if repeat is None else listed[repeat]  # one drawn copy per value
            for scope in scopes:
                values = {"model": model, **FIXED_VALUES}
                if repeat is not None:
                    drawn_rows.add(repeat)
                    values[repeat] = scope
                for target in panel["targets"]:
                    if not wait_for_finite(prom, substitute(target["expr"], values)):
                        empty.append(f"{path.name}: {panel['title']} / {target['refId']}: {target['expr']}")
    assert not empty, f"panels with no finite data for {model}:\n" + "\n".join(empty)
    assert drawn_rows == kind_rows, (
        f"{model}: rows drawn for {sorted(drawn_rows)}, expected {sorted(kind_rows)}"
    )


def check_template_variables(prom: PrometheusServer, model: str) -> None:
    expected = {
        "model": sorted(world.MODELS),
        "model_version": ["1"],
        "feature": sorted(world.FEATURES[model]),
        **{
            name: [model] if name in KIND_ROWS[model] else []
            for name in ("classifier", "scored", "regressor")
        },
    }
    for path in DASHBOARDS:
        for name, values in chosen_values(prom, load(path), model).items():
            assert values == expected[name], f"{path.name}: ${name} lists {values} for {model}"


def check_values(prom: PrometheusServer) -> None:
    """A few values that show the queries mean what their titles say."""
    fleet = load(DASHBOARDS[0])
    p50 = next(e for _, e in exprs(fleet) if e.startswith("histogram_quantile(0.5,"))
    values = {"model": "churn", **FIXED_VALUES}
    assert 300 < float(prom.query(substitute(p50, values))[0]["value"][1]) <= 900  # outcomes come 600 s later
    assert float(prom.query("model_version:driftline_predictions:rate5m")[0]["value"][1]) > 0
    assert float(prom.query("driftline:rejected_messages:ratio_rate5m")[0]["value"][1]) > 0
    for model, drifted in world.DRIFTED.items():
        share = prom.query(f'driftline_drift_share_ratio{{model="{model}"}}')
        assert float(share[0]["value"][1]) == pytest.approx(1 / 3)  # one of the three features drifted
        # Both drift metrics point one way for every feature: the drifted one has the largest
        # distance and the smallest p-value.
        (most,) = prom.query(f'topk(1, driftline_feature_drift_distance{{model="{model}"}})')
        assert most["metric"]["feature"] == drifted, most
        (least,) = prom.query(f'bottomk(1, driftline_feature_drift_p_value{{model="{model}"}})')
        assert least["metric"]["feature"] == drifted, least
    for model, metric in (("churn", "driftline_accuracy_ratio"), ("price", "driftline_mae")):
        series = prom.query(f'{metric}{{model="{model}"}}')
        assert {s["metric"]["window"] for s in series} == {"latest", "reference"}, metric
    assert prom.query('driftline_accuracy_ratio{model="price"}') == []  # no classifier panels for it
    assert prom.query('driftline_mae{model="churn"}') == []


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
                assert {m.group(1) or m.group(2) for m in VARIABLE.finditer(t["expr"])} <= {
                    *names,
                    *(n for n in FIXED_VALUES if n.startswith("__")),
                }, f"{path.name}: {p['title']} uses an undefined variable"
        repeats = [p["repeat"] for p in dashboard["panels"] if p["type"] == "row" and "repeat" in p]
        assert set(repeats) <= set(names), f"{path.name}: a row repeats over an undefined variable"


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
