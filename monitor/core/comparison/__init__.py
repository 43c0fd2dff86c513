"""Version comparison: several versions of a model on the same traffic, and a verdict.

What is compared (per pair of versions, on prediction ids both logged, e.g. a shadow deployment):
agreement of their predictions (with a Wilson interval), the drift of one version's prediction
distribution against the other's (Jensen-Shannon / chi-square for labels, normed Wasserstein /
binned KS for numbers, from monitor/core/stats), and, once outcomes are joined, their paired
performance: accuracy for classifiers (McNemar's exact and mid-p tests per window), MAE for
regressors (paired differences of absolute errors).

The verdict (`promote`, `hold`, `rollback`) comes from an anytime-valid confidence sequence on the
paired differences (`sequential`), so checking it after every window keeps the configured error
rates over any number of looks; `pairs_to_decide` is the power calculation that says how many
joined pairs a given difference needs. Golden test (d) (tests/unit/core/comparison) checks both.

Assumptions and limits
  * Pairs are independent, and the two versions see the *same* rows. A canary that serves a
    share of the traffic (different rows per version, no shared ids) is the unpaired comparison
    of `unpaired` (per version n, sum and sum of squares of the per-row metric), which assumes the
    rows are assigned to versions at random.
  * Outcomes must not depend on which version served (true for shadow predictions; for a
    version whose predictions act on the world, the outcome belongs to the served one only).
  * Multiclass classifiers work (correctness is compared); the regressor verdict is on MAE only.

Interfaces for the wiring step
  * Spec: ``ComparisonSpec.fit(task, reference_predictions)``, or ``ComparisonSpec.of_reference``
    of a baseline's prediction sketch (what the stream uses: the baseline version's baseline).
  * Stream: a `PairedWindow(spec)` per window (and partition) and pair of versions;
    ``add_predictions(pred_a, pred_b)`` when a shared id has both predictions,
    ``add_outcomes(pred_a, pred_b, y_true)`` when its outcome is joined; ``merge``;
    ``to_state`` / ``PairedWindow.from_state(state, spec)``.
  * Canary (unpaired): ``MeanSums.of_metrics`` per version and window, added up since the
    comparison started, ``compare_unpaired(task, sums_a, sums_b, rule)``; ``prediction_drift`` of
    the two versions' prediction sketches of a window.
  * Evaluation: ``compare_versions(window, rule)`` per window, and on the merge of all windows
    since the comparison started for the verdict -> `ComparisonResult` (frozen).
"""

from monitor.core.comparison.paired import ComparisonSpec, PairedWindow
from monitor.core.comparison.sequential import confidence_sequence, mcnemar, required_pairs
from monitor.core.comparison.unpaired import (
    MeanSums,
    UnpairedComparison,
    compare_unpaired,
    required_outcomes,
    unpaired_sequence,
)
from monitor.core.comparison.verdict import (
    ComparisonResult,
    PredictionDrift,
    Verdict,
    VerdictRule,
    compare_versions,
    pairs_to_decide,
    prediction_drift,
)

__all__ = [
    "ComparisonResult",
    "ComparisonSpec",
    "MeanSums",
    "PairedWindow",
    "PredictionDrift",
    "UnpairedComparison",
    "Verdict",
    "VerdictRule",
    "compare_unpaired",
    "compare_versions",
    "confidence_sequence",
    "mcnemar",
    "pairs_to_decide",
    "prediction_drift",
    "required_outcomes",
    "required_pairs",
    "unpaired_sequence",
]
