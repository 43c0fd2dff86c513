"""Two versions of a model on the same traffic: mergeable sums over shared prediction ids.

A `PairedWindow` is fed twice for each shared prediction id (monitor.pipeline.monitor finds them:
shadow predictions logged with the same id as the served one):

* `add_predictions(pred_a, pred_b)` when both versions' predictions are in: agreement (same label;
  for regressors |a - b| within `ComparisonSpec.agreement_tolerance`), and each version's
  prediction distribution (`ValueCounts` over the reference's labels, or `NumericSketch` on the
  reference predictions' quantile edges), for the drift of one against the other;
* `add_outcomes(pred_a, pred_b, y_true)` when the outcome arrives: the paired difference per row,
  d = (B right) - (A right) for classifiers (so the counts of rows only A or only B got right give
  McNemar's test), d = |error of A| - |error of B| for regressors (positive: B is better), kept as
  n, sum d and sum d², plus each version's metric sums.

Everything is counts and float sums: merge adds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.core.labels import canonical_labels
from monitor.core.sketch import NumericSketch, ValueCounts, quantile_edges, sketch_from_state
from monitor.errors import DataError

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class ComparisonSpec:
    """What two versions are compared on, fitted on reference predictions at baseline-build time."""

    task: Task
    labels: tuple[str, ...] = ()  # classification: the reference's predicted labels
    edges: tuple[float, ...] = ()  # regression: quantile edges of the reference predictions
    agreement_tolerance: float = 0.0  # regression: |a - b| at most this counts as agreeing
    reference_std: float = 1.0  # regression: spread of the reference predictions (norms Wasserstein)

    @classmethod
    def fit(
        cls, task: Task, reference_predictions: ArrayLike, *, tolerance_share: float = 0.1
    ) -> ComparisonSpec:
        """`tolerance_share`: regressors agree within this share of the reference predictions' std."""
        if task == "classification":
            labels = canonical_labels(np.asarray(reference_predictions, dtype=object))
            return cls(task, labels=tuple(sorted({str(x) for x in labels.tolist() if x is not None})))
        if task == "regression":
            values = np.asarray(reference_predictions, dtype=np.float64)
            values = values[np.isfinite(values)]
            if values.size == 0:
                raise DataError("field 'prediction': no finite reference predictions")
            std = float(values.std()) or 1.0
            return cls(
                task,
                edges=tuple(quantile_edges(values, 50).tolist()),
                agreement_tolerance=tolerance_share * std,
                reference_std=std,
            )
        raise DataError(f"unknown task {task!r}: expected 'classification' or 'regression'")

    @classmethod
    def of_reference(
        cls, predictions: NumericSketch | ValueCounts, *, tolerance_share: float = 0.1
    ) -> ComparisonSpec:
        """The spec of a baseline's prediction sketch (its labels, or its bin edges and spread): the
        same for every partition and restart that reads the same baseline."""
        if isinstance(predictions, ValueCounts):
            labels = canonical_labels(
                np.asarray([k for k in predictions.known if k is not None], dtype=object)
            )
            return cls(
                "classification", labels=tuple(sorted({str(x) for x in labels.tolist() if x is not None}))
            )
        std = predictions.moments.std or 1.0
        return cls(
            "regression",
            edges=tuple(float(e) for e in predictions.edges.tolist()),
            agreement_tolerance=tolerance_share * std,
            reference_std=std,
        )

    def sketch(self) -> NumericSketch | ValueCounts:
        return (
            ValueCounts(self.labels)
            if self.task == "classification"
            else NumericSketch(np.asarray(self.edges))
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "labels": list(self.labels),
            "edges": list(self.edges),
            "agreement_tolerance": self.agreement_tolerance,
            "reference_std": self.reference_std,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ComparisonSpec:
        if state.get("task") not in ("classification", "regression"):
            raise DataError(f"comparison state has task {state.get('task')!r}")
        return cls(
            state["task"],
            tuple(str(x) for x in state["labels"]),
            tuple(float(x) for x in state["edges"]),
            float(state["agreement_tolerance"]),
            float(state["reference_std"]),
        )


def _pair(pred_a: ArrayLike, pred_b: ArrayLike, task: Task) -> tuple[NDArray[Any], NDArray[Any]]:
    if task == "classification":
        a, b = (
            canonical_labels(np.asarray(pred_a, dtype=object)),
            canonical_labels(np.asarray(pred_b, dtype=object)),
        )
        if any(x is None for x in a.tolist()) or any(x is None for x in b.tolist()):
            raise DataError("field 'prediction': missing labels in a paired comparison")
    else:
        a, b = np.asarray(pred_a, dtype=np.float64), np.asarray(pred_b, dtype=np.float64)
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise DataError("field 'prediction': non-finite values in a paired comparison")
    if a.shape != b.shape or a.ndim != 1:
        raise DataError(f"version A has {a.size} predictions but version B has {b.size}")
    return a, b


class PairedWindow:
    def __init__(self, spec: ComparisonSpec) -> None:
        self.spec = spec
        self.n_shared = 0
        self.n_agree = 0
        self.predictions_a = spec.sketch()
        self.predictions_b = spec.sketch()
        self.n_joined = 0
        self.only_a_right = 0  # classification: the discordant pairs
        self.only_b_right = 0
        # sum d, sum d², and each version's metric sum (right answers, or absolute errors)
        self.sums = np.zeros(4)

    def add_predictions(self, pred_a: ArrayLike, pred_b: ArrayLike) -> Self:
        a, b = _pair(pred_a, pred_b, self.spec.task)
        if self.spec.task == "classification":
            agree = a == b
        else:
            agree = np.abs(a - b) <= self.spec.agreement_tolerance
        self.n_shared += int(a.size)
        self.n_agree += int(np.count_nonzero(agree))
        self.predictions_a.update(a)
        self.predictions_b.update(b)
        return self

    def add_outcomes(self, pred_a: ArrayLike, pred_b: ArrayLike, y_true: ArrayLike) -> Self:
        a, b = _pair(pred_a, pred_b, self.spec.task)
        if self.spec.task == "classification":
            y = canonical_labels(np.asarray(y_true, dtype=object))
            if y.shape != a.shape:
                raise DataError(f"y_true has {y.size} rows but the predictions have {a.size}")
            metric_a, metric_b = (a == y).astype(np.float64), (b == y).astype(np.float64)
            self.only_a_right += int(np.count_nonzero(metric_a > metric_b))
            self.only_b_right += int(np.count_nonzero(metric_b > metric_a))
            d = metric_b - metric_a
        else:
            y = np.asarray(y_true, dtype=np.float64)
            if y.shape != a.shape or not np.all(np.isfinite(y)):
                raise DataError(f"field 'y_true': expected {a.size} finite values")
            metric_a, metric_b = np.abs(y - a), np.abs(y - b)
            d = metric_a - metric_b
        self.n_joined += int(a.size)
        self.sums += (d.sum(), d @ d, metric_a.sum(), metric_b.sum())
        return self

    def merge(self, other: PairedWindow) -> PairedWindow:
        if other.spec != self.spec:
            raise DataError("cannot merge comparisons with different specs")
        out = PairedWindow(self.spec)
        out.n_shared, out.n_agree = self.n_shared + other.n_shared, self.n_agree + other.n_agree
        out.predictions_a = self.predictions_a.merge(other.predictions_a)  # type: ignore[arg-type]
        out.predictions_b = self.predictions_b.merge(other.predictions_b)  # type: ignore[arg-type]
        out.n_joined = self.n_joined + other.n_joined
        out.only_a_right = self.only_a_right + other.only_a_right
        out.only_b_right = self.only_b_right + other.only_b_right
        out.sums = self.sums + other.sums
        return out

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": "paired_window",
            "n_shared": self.n_shared,
            "n_agree": self.n_agree,
            "predictions_a": self.predictions_a.to_state(),
            "predictions_b": self.predictions_b.to_state(),
            "n_joined": self.n_joined,
            "only_a_right": self.only_a_right,
            "only_b_right": self.only_b_right,
            "sums": self.sums.tolist(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], spec: ComparisonSpec) -> PairedWindow:
        out = cls(spec)
        out.n_shared, out.n_agree = int(state["n_shared"]), int(state["n_agree"])
        out.predictions_a = sketch_from_state(state["predictions_a"])
        out.predictions_b = sketch_from_state(state["predictions_b"])
        out.n_joined = int(state["n_joined"])
        out.only_a_right, out.only_b_right = int(state["only_a_right"]), int(state["only_b_right"])
        sums = np.asarray(state["sums"], dtype=np.float64)
        if sums.shape != (4,) or type(out.predictions_a) is not type(spec.sketch()):
            raise DataError("paired comparison state does not match its spec")
        out.sums = sums
        return out
