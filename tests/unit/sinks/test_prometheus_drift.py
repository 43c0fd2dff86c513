"""The Prometheus drift metrics have one direction per name: distances (labelled with which) and
p-values apart, for features, the prediction and the target, on both regimes of `auto`."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from monitor.pipeline.monitor import Batch
from monitor.sinks.prometheus import registry_for
from tests.unit.pipeline.test_monitor import Pipeline, _window_batch


def samples(registry: CollectorRegistry) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in registry.collect():
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


@pytest.mark.parametrize("small_sample", [1000, 100_000])
def test_distance_and_p_value_per_column_and_no_mixed_score(small_sample: int) -> None:
    """20,000 reference rows: distances decide by default, KS and chi-square when they count as
    small; either way x1's distance is the normed Wasserstein and c1's the Jensen-Shannon."""
    pipeline = Pipeline(drift={"small_sample": small_sample})
    rng = np.random.default_rng(4)
    preds, outs = _window_batch(0, 2000, rng, shift=0.8)
    pipeline.ingest(Batch(predictions={("m", "1"): preds}, outcomes={"m": outs}))
    pipeline.service.evaluate(flush=True)
    (result,) = pipeline.service.results.windows("m", "1")
    assert result.drift.feature("x1").method == ("ks" if small_sample > 20_000 else "wasserstein")
    found = samples(registry_for(pipeline.service.results, pipeline.service.view))

    assert not any(name.endswith("_drift_score") for name in found)
    distances = {
        labels["feature"]: (labels["method"], v) for labels, v in found["driftline_feature_drift_distance"]
    }
    p_values = {labels["feature"]: v for labels, v in found["driftline_feature_drift_p_value"]}
    assert set(distances) == set(p_values) == {"x1", "x2", "x3", "c1", "c2"}
    assert distances["x1"][0] == "wasserstein" and distances["c1"][0] == "jensen_shannon"
    # One direction each: the shifted x1 has the largest distance and the smallest p-value.
    assert max(distances, key=lambda f: distances[f][1]) == "x1"
    assert min(p_values, key=p_values.__getitem__) == "x1"
    for role in ("prediction", "target"):
        ((labels, distance),) = found[f"driftline_{role}_drift_distance"]
        ((_, p_value),) = found[f"driftline_{role}_drift_p_value"]
        assert labels["method"] == "jensen_shannon" and distance >= 0 and 0 <= p_value <= 1
