"""Evidently data-drift reports of one window against its baseline, as HTML.

Built from the stored row samples, not from raw data (which driftline never keeps): the
window's bounded sample (`WindowResult.sample`, at most the model's `window_sample` rows, kept
for the newest `api.report_windows` windows) against the baseline's reference sample
(`baselines.reservoir_size` rows). Evidently then
picks its own tests on those samples, so its verdicts can differ from driftline's own,
which are computed on the full window sketch; the banner at the top says so and gives
both sample sizes. Evidently is imported on first use (it is slow to import) and a few
rendered reports are cached, keyed by the window's evaluation.

`stored_report` is the CLI's side, for `driftline report`: the newest windows' samples are
stored in the state store with the windows (monitor.state.result_archive), so the report is
rendered from there without a running service. `fetch_report` asks a running service's API
instead (`--url`). The key, when reads need one, comes from the environment
(DRIFTLINE_API_KEY) or the config, never a flag, so it stays out of shell history and
process lists.
"""

from __future__ import annotations

import html
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from monitor.api.models import ModelName, Version, find_window, resolve, service_of
from monitor.api.protocol import ApiError, require_read
from monitor.baselines.baseline import Baseline
from monitor.baselines.store import BaselineStore
from monitor.config import DriftlineConfig, ModelConfig
from monitor.core.reservoir import RowReservoir
from monitor.errors import BaselineError, DriftlineError
from monitor.evaluation.result_json import window_id
from monitor.evaluation.results import WindowResult
from monitor.service import Service
from monitor.state.store import StateStore

router = APIRouter(prefix="/api/v1", tags=["reports"], dependencies=[Depends(require_read)])
PREDICTION = "__prediction__"
TIMEOUT_S = 120.0  # fetching: a first report renders Evidently's page, seconds rather than milliseconds


def sample_frame(sample: RowReservoir, cfg: ModelConfig) -> pd.DataFrame:
    """The sample's rows as a DataFrame: one column per feature, plus `prediction`."""
    columns: dict[str, Any] = {}
    for feature in cfg.features:
        values: Any = sample.column(feature.name)
        if len(values) != len(sample):  # a feature never seen in this window
            values = [None] * len(sample)
        columns[feature.name] = pd.Series(values, dtype="float64" if feature.kind == "numeric" else "object")
    predictions = sample.column(PREDICTION)
    if len(predictions) == len(sample):
        kind = "float64" if cfg.task == "regression" else "object"
        columns["prediction"] = pd.Series(predictions, dtype=kind)
        if cfg.task == "classification":
            columns["prediction"] = columns["prediction"].map(lambda v: None if v is None else str(v))
    return pd.DataFrame(columns)


def render_report(result: WindowResult, baseline: Baseline, cfg: ModelConfig) -> str:
    """Evidently's DataDriftPreset on the window's sample against the baseline's, as one HTML page."""
    import evidently
    from evidently.presets import DataDriftPreset

    if result.sample is None or len(result.sample) == 0:
        raise ApiError(
            409,
            f"window {window_id(result)} has no row sample left: samples are kept for the newest "
            "api.report_windows windows (and need the model's window_sample > 0)",
            "path.window_id",
        )
    current = sample_frame(result.sample, cfg)
    reference = sample_frame(baseline.profile.reservoir, cfg)
    reference = reference[[c for c in current.columns if c in reference.columns]]
    current = current[reference.columns]
    numeric = [f.name for f in cfg.features if f.kind == "numeric"]
    categorical = [f.name for f in cfg.features if f.kind == "categorical"]
    if "prediction" in current.columns:
        (numeric if cfg.task == "regression" else categorical).append("prediction")
    definition = evidently.DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = evidently.Report([DataDriftPreset()]).run(
        current_data=evidently.Dataset.from_pandas(current, data_definition=definition),
        reference_data=evidently.Dataset.from_pandas(reference, data_definition=definition),
    )
    return _with_banner(
        snapshot.get_html_str(as_iframe=False), result, baseline, len(current), len(reference)
    )


def _with_banner(page: str, result: WindowResult, baseline: Baseline, n_cur: int, n_ref: int) -> str:
    drifted = ", ".join(result.drift.drifted_features) or "none"
    banner = (
        '<div id="driftline-banner" style="font-family:sans-serif;padding:12px;background:#f4f4f8;'
        'border-bottom:1px solid #ccc">'
        f"<b>driftline</b> · model {html.escape(result.model)} v{html.escape(result.model_version)} · "
        f"window {window_id(result)} ({result.window_start:%Y-%m-%d %H:%M} – {result.window_end:%H:%M} UTC) "
        f"vs baseline {html.escape(baseline.id)}<br>"
        f"Evidently on row samples: {n_cur:,} of the window's {result.drift.n_rows:,} rows against "
        f"{n_ref:,} of the reference's {baseline.n_rows:,}. "
        f"driftline's verdict on the full window sketch: drifted features: {html.escape(drifted)}.</div>"
    )
    at = page.find("<body")
    if at < 0:
        return banner + page
    close = page.find(">", at) + 1
    return page[:close] + banner + page[close:]


class ReportCache:
    """The last few rendered reports, keyed by window evaluation and baseline."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pages: OrderedDict[tuple[str, ...], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple[str, ...], page: str) -> None:
        with self._lock:
            self._pages[key] = page
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)


def baseline_of(service: Service, result: WindowResult) -> Baseline:
    """The baseline the window was evaluated against (from the store if it was replaced since)."""
    found = service.evaluator.find_baseline(result.model, result.model_version, result.drift.baseline_id)
    if found is None:
        raise ApiError(
            410, f"baseline {result.drift.baseline_id} of this window is no longer stored", "path.window_id"
        )
    return found


def window_report(service: Service, cache: ReportCache, result: WindowResult) -> str:
    baseline = baseline_of(service, result)
    key = (
        result.model,
        result.model_version,
        window_id(result),
        result.evaluated_at.isoformat(),
        baseline.id,
    )
    page = cache.get(key)
    if page is None:
        page = render_report(result, baseline, service.config.model(result.model))
        cache.put(key, page)
    return page


@router.get(
    "/models/{model}/windows/{window_id}/report",
    response_class=HTMLResponse,
    summary="Evidently data-drift report (HTML) of a window against its baseline, from row samples",
)
async def report(
    request: Request,
    model: ModelName,
    window_id: Annotated[str, Path(description="the window's start, epoch seconds", max_length=40)],
    version: Version = None,
) -> HTMLResponse:
    service = service_of(request)
    version = resolve(service, model, version)
    result = find_window(service, model, version, window_id)
    page = await run_in_threadpool(window_report, service, request.app.state.reports, result)
    return HTMLResponse(page)


# ---------------------------------------------------------------- offline (the CLI's side)


def stored_report(
    config: DriftlineConfig, model: str, window: str, version: str | None
) -> tuple[WindowResult, str]:
    """The report of a window stored in the config's state store ('latest': the newest), rendered
    here from its stored row sample: no running service needed."""
    from monitor.state.result_reader import open_results

    cfg = config.model(model)
    with open_results(config) as stored:
        result = stored.window(stored.stream(model, version), window, sample=True)
        baseline = stored_baseline(config, stored.archive.store, result)
    if result.sample is None or len(result.sample) == 0:
        raise DriftlineError(
            f"window {window_id(result)} of model {model!r} version {result.model_version!r} has no row "
            f"sample stored: samples are kept for the newest api.report_windows windows "
            f"({config.api.report_windows}) of each version, when the model's window_sample is above 0"
        )
    return result, render_report(result, baseline, cfg)


def stored_baseline(config: DriftlineConfig, store: StateStore, result: WindowResult) -> Baseline:
    """The baseline a window was evaluated against: from baselines.path, else as published in the
    state store (monitor.baseline_sharing)."""
    from monitor.baseline_sharing import ARTIFACT, artifact_namespace

    model, version, wanted = result.model, result.model_version, result.drift.baseline_id
    try:
        return BaselineStore(config.baselines.path).load(model, version, wanted)
    except BaselineError as err:
        raw = store.load_records(artifact_namespace(model, version, wanted)).get(ARTIFACT)
        if raw is None:
            raise BaselineError(f"{err}, nor published in the state store") from None
    return Baseline.from_state(json.loads(raw))


# ---------------------------------------------------------------- fetching (the CLI's side)


def _get(url: str, key: str | None) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as err:
        try:
            message = json.loads(err.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {err.code}"
        raise DriftlineError(f"the service answered {err.code}: {message}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DriftlineError(
            f"no driftline service answers at {url.split('/api/')[0]} ({reason}): "
            "start `driftline run`, or pass --url"
        ) from None


def _path(*parts: str) -> str:
    return "/".join(urllib.parse.quote(p, safe="") for p in parts)


def latest_window(base_url: str, model: str, version: str | None, key: str | None) -> str:
    query = urllib.parse.urlencode({"limit": 1, **({"version": version} if version else {})})
    body: Any = json.loads(_get(f"{base_url}/api/v1/{_path('models', model, 'windows')}?{query}", key))
    if not body["windows"]:
        raise DriftlineError(f"model {model!r} has no evaluated window yet")
    return str(body["windows"][-1]["window_id"])


def fetch_report(base_url: str, model: str, window: str, version: str | None, key: str | None) -> bytes:
    """The HTML report of `window` ('latest' for the newest) of `model`."""
    base_url = base_url.rstrip("/")
    if window == "latest":
        window = latest_window(base_url, model, version, key)
    query = f"?{urllib.parse.urlencode({'version': version})}" if version else ""
    return _get(f"{base_url}/api/v1/{_path('models', model, 'windows', window, 'report')}{query}", key)
