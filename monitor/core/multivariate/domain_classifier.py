"""Domain classifier: can a model tell the window's rows from the reference's?

Evaluate (no stream state of its own: it reads the window's bounded row sample and the baseline's
reference sample, both a few thousand rows): label window rows 1 and reference rows 0, encode both
with the reference's `TabularEncoder`, and measure the cross-validated ROC AUC of a gradient-boosted
tree classifier (scikit-learn's `HistGradientBoostingClassifier`, which sees interactions such as a
flipped correlation, which a linear model would not). Every row is scored by a model that did not
train on it (stratified `folds`-fold cross-validation).

Threshold by permutation under a fixed seed: the out-of-fold scores are kept and the labels
shuffled `permutations` times; the AUC's (1 - alpha) quantile under shuffling is the threshold and
the share of shuffles at least as high is the p-value. Shuffling labels against fixed scores does not
refit the model, so it costs milliseconds; under no drift, cross-validated scores are no better than
chance, and if anything worse (a known effect of cross-validation), so the test is, if anything,
conservative. Drift needs the AUC above that threshold *and* at least `min_auc`, an effect-size
floor as elsewhere in driftline.

Cost is bounded by the sample sizes: `folds` fits of `max_iter` shallow trees on (n_window +
n_reference) rows; see tests/benchmarks/README.md for 2,000 + 5,000 rows x 50 features.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from monitor.core.encoding import Kind, TabularEncoder
from monitor.core.multivariate.pca import MultivariateDriftResult
from monitor.errors import DataError


def auc_from_ranks(ranks: NDArray[np.float64], labels: NDArray[np.bool_]) -> NDArray[np.float64]:
    """ROC AUC of scores with these (tie-averaged) ranks, for one labelling or a stack of them."""
    n_pos = labels.sum(axis=-1)
    n_neg = labels.shape[-1] - n_pos
    rank_sum = (ranks * labels).sum(axis=-1)
    return np.asarray((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg), dtype=np.float64)


class DomainClassifier:
    KIND = "domain_classifier"

    def __init__(
        self,
        encoder: TabularEncoder,
        *,
        folds: int = 3,
        max_iter: int = 50,
        permutations: int = 500,
        alpha: float = 0.01,
        min_auc: float = 0.55,
        min_rows: int = 50,
        seed: int = 0,
    ) -> None:
        if folds < 2 or max_iter < 1 or permutations < 10 or not 0 < alpha < 1 or not 0.5 <= min_auc < 1:
            raise DataError(
                "need folds >= 2, max_iter >= 1, permutations >= 10, 0 < alpha < 1, 0.5 <= min_auc < 1"
            )
        self.encoder, self.folds, self.max_iter = encoder, folds, max_iter
        self.permutations, self.alpha, self.min_auc = permutations, alpha, min_auc
        self.min_rows, self.seed = min_rows, seed

    @classmethod
    def fit(cls, reference: Mapping[str, Any], kinds: Mapping[str, Kind], **options: Any) -> DomainClassifier:
        """Fit the encoder on the reference (the model itself is trained anew on each window)."""
        return cls(TabularEncoder.fit(reference, kinds), **options)

    def evaluate(
        self, window: Mapping[str, Any], reference: Mapping[str, Any]
    ) -> MultivariateDriftResult | None:
        """The window's row sample against the reference sample; None while either has fewer than
        `min_rows` rows."""
        x_window, x_reference = self.encoder.transform(window), self.encoder.transform(reference)
        n_window, n_reference = len(x_window), len(x_reference)
        if min(n_window, n_reference) < max(self.min_rows, self.folds):
            return None
        x = np.vstack([x_window, x_reference])
        labels = np.r_[np.ones(n_window, bool), np.zeros(n_reference, bool)]
        scores = np.empty(len(labels))
        splitter = StratifiedKFold(self.folds, shuffle=True, random_state=self.seed)
        # One thread: on a few thousand rows OpenMP's start-up and, on a busy machine, its waiting cost
        # more than it saves (measured: 14 s instead of well under 1 s with two busy cores).
        with threadpool_limits(limits=1, user_api="openmp"):
            for train, test in splitter.split(x, labels):
                model = HistGradientBoostingClassifier(
                    max_iter=self.max_iter,
                    max_depth=4,
                    learning_rate=0.1,
                    early_stopping=False,
                    random_state=self.seed,
                ).fit(x[train], labels[train])
                scores[test] = model.predict_proba(x[test])[:, 1]
        ranks = rankdata(scores)
        auc = float(auc_from_ranks(ranks, labels))
        rng = np.random.default_rng(self.seed)
        shuffled = rng.permuted(np.broadcast_to(labels, (self.permutations, len(labels))), axis=1)
        null = auc_from_ranks(ranks, shuffled)
        threshold = float(np.quantile(null, 1 - self.alpha))
        p_value = float((1 + np.sum(null >= auc)) / (1 + self.permutations))
        upper = max(threshold, self.min_auc)
        return MultivariateDriftResult(
            self.KIND, auc, None, upper, auc > upper, n_window, n_reference, p_value=p_value
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "encoder": self.encoder.to_state(),
            "folds": self.folds,
            "max_iter": self.max_iter,
            "permutations": self.permutations,
            "alpha": self.alpha,
            "min_auc": self.min_auc,
            "min_rows": self.min_rows,
            "seed": self.seed,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DomainClassifier:
        if state.get("kind") != cls.KIND:
            raise DataError(f"state has kind {state.get('kind')!r}, expected {cls.KIND!r}")
        options = {k: state[k] for k in ("folds", "max_iter", "permutations", "min_rows", "seed")}
        return cls(
            TabularEncoder.from_state(state["encoder"]),
            **{k: int(v) for k, v in options.items()},
            alpha=float(state["alpha"]),
            min_auc=float(state["min_auc"]),
        )
