"""Golden test (issue 15, b): a correlation flip between two features with unchanged marginals,
through the real `Service` (JSON messages in, evaluated windows out).

The reference has x1 and x2 standard normal with correlation +0.8 (x3 independent, a category
beside them); from hour 4 on the correlation is -0.8 and every marginal stays as it was. The
multivariate detectors fire on every flipped window and on no stationary one, and no univariate
test (features, prediction) fires on any window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from monitor.baselines.baseline import build_baseline
from monitor.config import DriftlineConfig, parse_config, resolve_paths
from monitor.evaluation.results import WindowResult
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters

HOUR_S = 3600
START_S = int(datetime(2026, 5, 4, tzinfo=UTC).timestamp())
FEATURES = {"x1": "numeric", "x2": "numeric", "x3": "numeric", "plan": "categorical"}
FLIP_FROM, HOURS, ROWS = 4, 8, 2000


def config(folder: Path, domain_classifier: bool) -> DriftlineConfig:
    model = {
        "name": "corr",
        "task": "classification",
        "features": [{"name": n, "kind": k} for n, k in FEATURES.items()],
        "window": "1h",
        "allowed_lateness": "1m",
        "multivariate": {"domain_classifier": {"enabled": domain_classifier}},
    }
    return resolve_paths(parse_config({"models": [model], "baselines": {"path": "baselines"}}), folder)


def rows(n: int, rng: np.random.Generator, correlation: float) -> pd.DataFrame:
    x1 = rng.normal(0, 1, n)
    x2 = correlation * x1 + np.sqrt(1 - correlation**2) * rng.normal(0, 1, n)  # N(0, 1) either way
    frame = pd.DataFrame(
        {"x1": x1, "x2": x2, "x3": rng.exponential(1, n), "plan": rng.choice(["a", "b", "c"], n)}
    )
    frame["prediction"] = (frame["x1"] > 0).astype(int).astype(str)  # its distribution stays too
    return frame


def messages(hour: int, rng: np.random.Generator) -> list[bytes]:
    frame = rows(ROWS, rng, -0.8 if hour >= FLIP_FROM else 0.8)
    times = START_S + hour * HOUR_S + np.sort(rng.uniform(0, HOUR_S, ROWS))
    out = []
    for j, (row, t) in enumerate(zip(frame.to_dict("records"), times.tolist(), strict=True)):
        message: dict[str, Any] = {
            "prediction_id": f"{hour}-{j}",
            "model": "corr",
            "model_version": "1",
            "timestamp": t,
            "features": {k: row[k] for k in FEATURES},
            "prediction": row["prediction"],
        }
        out.append(orjson.dumps(message))
    return out


def run(folder: Path, domain_classifier: bool) -> list[WindowResult]:
    cfg = config(folder, domain_classifier)
    reference = rows(20_000, np.random.default_rng(7), 0.8)
    baseline = build_baseline(
        reference, cfg.models[0], cfg.baselines, "1", "train.csv", datetime(2026, 5, 1, tzinfo=UTC)
    )
    clock = datetime.fromtimestamp(START_S + (HOURS + 1) * HOUR_S, UTC)
    service = Service(cfg, {("corr", "1"): baseline}, MemoryDeadLetters(), clock=lambda: clock)
    rng = np.random.default_rng(11)
    for hour in range(HOURS):
        predictions = messages(hour, rng)
        for at in range(0, ROWS, 500):  # several batches per window: the sums accumulate
            assert service.handle(RawBatch(predictions=predictions[at : at + 500])) == []
    results = sorted(service.evaluate(flush=True), key=lambda r: r.window_start)
    assert [r.drift.n_rows for r in results] == [ROWS] * HOURS
    return results


@pytest.mark.parametrize("domain_classifier", [False, True], ids=["pca", "pca+domain_classifier"])
def test_a_correlation_flip_fires_multivariate_drift_and_no_univariate_test(
    tmp_path: Path, domain_classifier: bool
) -> None:
    results = run(tmp_path, domain_classifier)
    flipped = [r.window_start.timestamp() >= START_S + FLIP_FROM * HOUR_S for r in results]
    for result, is_flipped in zip(results, flipped, strict=True):
        report = result.multivariate
        assert report is not None and report.pca is not None
        where = f"window {result.window_start:%H:%M} (flipped: {is_flipped})"
        assert report.pca.drift_detected is is_flipped, (where, report.pca)
        assert report.pca.n_window == ROWS
        if domain_classifier:
            assert report.domain_classifier is not None
            assert report.domain_classifier.drift_detected is is_flipped, (where, report.domain_classifier)
        else:
            assert report.domain_classifier is None
        assert report.drift_detected is is_flipped
        # The univariate tests stay silent on every window, flipped or not.
        assert result.drift.drifted_features == (), where
        assert not result.drift.dataset_drift
        assert result.drift.prediction is not None and not result.drift.prediction.drift_detected
    # The flipped windows' error is far outside the band, not just across its edge.
    pca = [r.multivariate.pca for r in results if r.multivariate and r.multivariate.pca]
    assert min(p.value for p, f in zip(pca, flipped, strict=True) if f) > 1.5 * pca[0].upper
