"""The multivariate drift detectors in the baseline: when they are fitted, how they are stored
(content-hashed with it) and that baselines without them still load."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.baselines.view import render_baseline
from monitor.config import DriftlineConfig, parse_config
from monitor.core.multivariate import DomainClassifier, PCAReconstruction
from monitor.errors import DataError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def config(features: dict[str, str], **multivariate: Any) -> DriftlineConfig:
    model = {
        "name": "m",
        "task": "classification",
        "features": [{"name": n, "kind": k} for n, k in features.items()],
        "multivariate": multivariate,
    }
    return parse_config({"models": [model]})


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x1 + rng.normal(0, 0.5, n),
            "c": rng.choice(["a", "b"], n),
            "prediction": rng.choice(["0", "1"], n),
        }
    )


def build(cfg: DriftlineConfig, data: pd.DataFrame) -> Baseline:
    return build_baseline(data, cfg.models[0], cfg.baselines, "1", "test", NOW)


def test_pca_is_on_by_default_with_two_numeric_features_and_off_with_one() -> None:
    two = build(config({"x1": "numeric", "x2": "numeric", "c": "categorical"}), frame(2000))
    assert isinstance(two.pca, PCAReconstruction)
    assert two.pca.encoder.names == ("x1", "x2", "c")  # every feature, categories too
    assert two.domain_classifier is None  # opt-in
    one = build(config({"x1": "numeric", "c": "categorical"}), frame(2000))
    assert one.multivariate is None and one.pca is None
    forced = build(config({"x1": "numeric", "c": "categorical"}, enabled=True), frame(2000))
    assert forced.pca is not None
    off = build(config({"x1": "numeric", "x2": "numeric"}, enabled=False), frame(2000))
    assert off.multivariate is None


def test_the_domain_classifier_is_stored_when_enabled_with_its_settings() -> None:
    cfg = config(
        {"x1": "numeric", "x2": "numeric"},
        enabled=False,
        domain_classifier={"enabled": True, "alpha": 0.05, "permutations": 200},
    )
    baseline = build(cfg, frame(2000))
    assert baseline.pca is None
    domain = baseline.domain_classifier
    assert isinstance(domain, DomainClassifier)
    assert (domain.alpha, domain.permutations, domain.min_auc) == (0.05, 200, 0.55)


def test_the_detectors_are_part_of_the_content_hash_and_survive_a_round_trip() -> None:
    features = {"x1": "numeric", "x2": "numeric"}
    with_pca = build(config(features), frame(2000))
    without = build(config(features, enabled=False), frame(2000))
    assert with_pca.id != without.id
    assert build(config(features, k=4.0), frame(2000)).id != with_pca.id  # settings count too
    again = Baseline.from_state(with_pca.to_state())
    assert again.id == with_pca.id
    assert again.pca is not None and with_pca.pca is not None
    assert again.pca.to_state() == with_pca.pca.to_state()


def test_a_baseline_written_before_multivariate_drift_loads_with_its_old_id() -> None:
    old = build(config({"x1": "numeric", "x2": "numeric"}, enabled=False), frame(2000))
    state = old.to_state()
    assert "multivariate" not in state  # as such baselines were written
    loaded = Baseline.from_state(state)
    assert loaded.multivariate is None and loaded.pca is None and loaded.id == state["id"]


def test_too_small_a_reference_skips_the_default_pca_but_fails_when_asked_for() -> None:
    small = frame(60)
    features = {"x1": "numeric", "x2": "numeric"}
    assert build(config(features), small).multivariate is None
    with pytest.raises(DataError, match="model 'm': multivariate drift: PCA drift needs at least 100"):
        build(config(features, enabled=True), small)


def test_baseline_show_says_which_detectors_the_baseline_holds() -> None:
    def shown(baseline: Baseline) -> str:
        console = Console(width=200, record=True)
        console.print(render_baseline(baseline))
        return console.export_text()

    both = config({"x1": "numeric", "x2": "numeric"}, domain_classifier={"enabled": True})
    text = shown(build(both, frame(2000)))
    assert "multivariate drift: PCA reconstruction, 1 component(s) of 2 encoded columns" in text
    assert "multivariate drift: domain classifier (alpha 0.01" in text
    none = shown(build(config({"x1": "numeric"}), frame(2000)))
    assert "multivariate drift: none in this baseline" in none
