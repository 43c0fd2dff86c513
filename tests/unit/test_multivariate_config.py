"""The per-model `multivariate` section: PCA on by default with two numeric features, the domain
classifier opt-in, misspelled keys refused."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.config import ModelConfig, parse_config
from monitor.errors import ConfigError


def model(**multivariate: Any) -> ModelConfig:
    features = [{"name": "a", "kind": "numeric"}, {"name": "b", "kind": "categorical"}]
    spec = {"name": "m", "task": "regression", "features": features, "multivariate": multivariate}
    return parse_config({"models": [spec]}).models[0]


def test_defaults_pca_by_numeric_features_and_no_domain_classifier() -> None:
    settings = model().multivariate
    assert settings.enabled is None
    assert [settings.pca_enabled(n) for n in (0, 1, 2, 5)] == [False, False, True, True]
    assert not settings.domain_classifier.enabled
    assert model(enabled=True).multivariate.pca_enabled(1)
    assert not model(enabled=False).multivariate.pca_enabled(5)


def test_bad_settings_fail_at_start_up_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"multivariate\.domain_clasifier: unknown key"):
        model(domain_clasifier={"enabled": True})
    with pytest.raises(ConfigError, match=r"multivariate\.variance_share"):
        model(variance_share=1.5)
    with pytest.raises(ConfigError, match=r"multivariate\.domain_classifier\.min_auc"):
        model(domain_classifier={"enabled": True, "min_auc": 0.4})
