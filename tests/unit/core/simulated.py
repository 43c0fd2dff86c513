"""Seeded simulated models and streams shared by the golden tests of the estimation, multivariate,
segment and comparison cores: a classifier with scores and a regressor over the same features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = {"x0": "numeric", "x1": "numeric", "x2": "numeric", "x3": "numeric", "plan": "categorical"}
PLANS = np.array(["basic", "pro", "team"])


def features(rng: np.random.Generator, n: int, shift: float = 0.0, rho: float = 0.6) -> dict[str, np.ndarray]:
    """x0, x1 correlated by `rho`; x0 (and so x1) moved by `shift` (a covariate shift); x2, x3 noise-like."""
    z = rng.normal(size=(n, 4))
    x0 = z[:, 0] + shift
    x1 = rho * z[:, 0] + np.sqrt(1 - rho * rho) * z[:, 1] + rho * shift
    plan = PLANS[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
    return {"x0": x0, "x1": x1, "x2": z[:, 2], "x3": z[:, 3], "plan": plan.astype(object)}


def true_logit(f: dict[str, np.ndarray]) -> np.ndarray:
    return 1.8 * f["x0"] - 1.2 * f["x1"] + 0.6 * f["x2"] + 0.8 * (f["plan"] == "pro") - 0.3


@dataclass
class Classifier:
    """A classifier whose score is the true P(y = 1 | x) squeezed a little (so it needs calibrating)."""

    threshold: float = 0.5

    def score(self, f: dict[str, np.ndarray]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-0.7 * true_logit(f)))

    def predict(self, f: dict[str, np.ndarray]) -> np.ndarray:
        return np.where(self.score(f) >= self.threshold, "1", "0").astype(object)


def classification_rows(rng: np.random.Generator, n: int, shift: float = 0.0):
    f = features(rng, n, shift)
    y = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-true_logit(f))), "1", "0").astype(object)
    model = Classifier()
    return f, model.predict(f), model.score(f), y


def regression_rows(rng: np.random.Generator, n: int, shift: float = 0.0):
    """y = a linear signal + noise whose scale grows with |x0| and for plan "team"; the model knows the
    signal but not the noise, so its error depends on where the rows are."""
    f = features(rng, n, shift)
    signal = 2.0 * f["x0"] + f["x1"] - 0.5 * f["x2"]
    scale = 0.5 + 0.6 * np.abs(f["x0"]) + 0.8 * (f["plan"] == "team")
    y = signal + scale * rng.normal(size=n)
    return f, signal, y
