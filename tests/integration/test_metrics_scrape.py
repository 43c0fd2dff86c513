"""A real Prometheus scrapes the service's /metrics while a seeded drifting stream runs."""

from datetime import UTC, datetime

import numpy as np
import pytest

from monitor.api.app import ApiServer
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit import stream_world as world

pytestmark = pytest.mark.integration
H = world.HOUR_MS


def test_prometheus_scrapes_drift_performance_and_counters(prometheus_server) -> None:
    cfg = world.config()
    service = Service(
        cfg,
        {("m", "1"): world.baseline(cfg)},
        MemoryDeadLetters(),
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )
    metrics = ApiServer(service, "127.0.0.1", 0)
    try:
        rng = np.random.default_rng(1)
        for i in range(4):
            preds, outs = world.messages(i, 1500, rng, shift=0.8 if i >= 2 else 0.0)
            service.handle(
                RawBatch(predictions=[*(m for _, m in preds), b"{not json"], outcomes=[m for _, m in outs])
            )
        service.evaluate(flush=True)
        prom = prometheus_server([f"127.0.0.1:{metrics.port}"])
        wasserstein = prom.wait_for(
            'driftline_feature_wasserstein_normed{model="m",feature="x1"}', timeout=30
        )
        assert wasserstein[0]["metric"]["model_version"] == "1"
        assert float(wasserstein[0]["value"][1]) > 0.5  # the last window is shifted by 0.8 sd

        detected = prom.query('driftline_feature_drift_detected{model="m"}')
        assert {s["metric"]["feature"]: s["value"][1] for s in detected} == {
            "x1": "1",
            "x2": "0",
            "x3": "0",
            "c1": "0",
            "c2": "0",
        }
        accuracy = prom.query('driftline_accuracy_ratio{model="m",model_version="1"}')
        by_window = {s["metric"]["window"]: float(s["value"][1]) for s in accuracy}
        assert set(by_window) == {"latest", "reference"}
        assert by_window["latest"] == pytest.approx(0.9, abs=0.03)
        assert prom.query('driftline_predictions_total{model="m",model_version="1"}')[0]["value"][1] == "6000"
        assert prom.query('driftline_joined_pairs_total{model="m"}')[0]["value"][1] == "6000"
        rejects = prom.query('driftline_rejected_messages_total{reason="invalid_json"}')
        assert rejects[0]["value"][1] == "4"
        delays = prom.query('driftline_label_delay_seconds_count{model="m"}')
        assert delays[0]["value"][1] == "6000"
        # Multivariate drift of the latest window, as the alert rule file reads it.
        latest = service.results.latest("m", "1")
        assert latest is not None and latest.multivariate is not None and latest.multivariate.pca is not None
        error = prom.query('driftline_multivariate_drift_reconstruction_error{model="m",model_version="1"}')
        assert float(error[0]["value"][1]) == pytest.approx(latest.multivariate.pca.value)
        fired = prom.query("max by (model, model_version) (driftline_multivariate_drift_detected) >= 1")
        assert latest.multivariate.drift_detected  # x1 moved 0.8 sd: off the reference's structure
        assert [s["metric"] for s in fired] == [{"model": "m", "model_version": "1"}]
        # Labels stay bounded: no prediction ids anywhere.
        series = prom.api_get("series", **{"match[]": '{__name__=~"driftline_.*"}'})
        assert not any("prediction_id" in s for s in series)
    finally:
        metrics.close()
