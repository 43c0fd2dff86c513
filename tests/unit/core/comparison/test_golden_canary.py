"""Golden test (d): a candidate version 3 accuracy points worse than the served one on shared traffic
is rolled back within the pairs the power calculation predicts; an equal one is held or promoted and
rolled back in no more than alpha of long stationary simulations, with the verdict checked after
every window. The same for a regressor whose candidate's MAE is 6 % worse.

Pairs are drawn per window (500 joined pairs) from a fixed joint law of the two versions'
correctness (classifier) or errors (regressor) and fed through `PairedWindow` as labels and numbers.
"""

import numpy as np

from monitor.core.comparison import (
    ComparisonSpec,
    PairedWindow,
    VerdictRule,
    compare_versions,
    pairs_to_decide,
)

WINDOW = 500
RULE = VerdictRule(alpha_rollback=0.05, alpha_promote=0.05, promote_margin=0.01)


def classifier_window(rng, spec, only_a, only_b, accuracy_both=0.8):
    """Joint correctness: both right, only A right, only B right, both wrong."""
    kind = rng.choice(4, WINDOW, p=[accuracy_both, only_a, only_b, 1 - accuracy_both - only_a - only_b])
    y = rng.choice(np.array(["0", "1"], dtype=object), WINDOW)
    flip = np.where(y == "1", "0", "1").astype(object)
    a_right, b_right = np.isin(kind, (0, 1)), np.isin(kind, (0, 2))
    pred_a, pred_b = np.where(a_right, y, flip), np.where(b_right, y, flip)
    return PairedWindow(spec).add_predictions(pred_a, pred_b).add_outcomes(pred_a, pred_b, y)


def regressor_window(rng, spec, scale_b):
    y = rng.normal(10.0, 3.0, WINDOW)
    shared = rng.normal(size=WINDOW)
    error_a = shared + 0.6 * rng.normal(size=WINDOW)
    error_b = scale_b * (shared + 0.6 * rng.normal(size=WINDOW))
    pred_a, pred_b = y - error_a, y - error_b
    return PairedWindow(spec).add_predictions(pred_a, pred_b).add_outcomes(pred_a, pred_b, y)


def run(make, windows):
    """The verdict after each window on the merge of all windows so far: (first rollback, last verdict)."""
    total = None
    first_rollback = None
    verdict = "hold"
    for i in range(windows):
        window = make()
        total = window if total is None else total.merge(window)
        verdict = compare_versions(total, RULE).verdict
        if verdict == "rollback" and first_rollback is None:
            first_rollback = (i + 1) * WINDOW
            break
    return first_rollback, verdict


def check_power(make, effect, std, streams=100):
    predicted = pairs_to_decide(effect, std, RULE, power=0.8)
    assert predicted is not None
    horizon = 3 * predicted // WINDOW + 1
    found = [run(make, horizon)[0] for _ in range(streams)]
    by_predicted = np.mean([f is not None and f <= predicted + WINDOW for f in found])  # next look
    by_twice = np.mean([f is not None and f <= 2 * predicted for f in found])
    print(
        f"predicted {predicted} pairs; rolled back by then in {by_predicted:.2f}, by twice in {by_twice:.2f}"
    )
    assert by_predicted >= 0.75  # power 0.8, less three binomial std over 100 streams
    assert by_twice >= 0.97
    return predicted


def check_no_false_rollback(make, windows, streams):
    outcomes = [run(make, windows) for _ in range(streams)]
    rollbacks = np.mean([first is not None for first, _ in outcomes])
    promoted = np.mean([verdict == "promote" for _, verdict in outcomes])
    print(f"equal version over {windows * WINDOW} pairs: rollback {rollbacks:.3f}, promoted {promoted:.2f}")
    assert rollbacks <= RULE.alpha_rollback + 2 * np.sqrt(RULE.alpha_rollback * 0.95 / streams)
    return promoted


def test_classifier_canary_three_points_worse_is_rolled_back_in_time():
    rng = np.random.default_rng(7)
    spec = ComparisonSpec.fit("classification", np.array(["0", "1"], dtype=object))
    only_a, only_b = 0.065, 0.035  # accuracy 0.865 vs 0.835
    std = np.sqrt(only_a + only_b - (only_b - only_a) ** 2)
    check_power(lambda: classifier_window(rng, spec, only_a, only_b), 0.03, std)


def test_classifier_equal_version_is_never_rolled_back_beyond_alpha():
    rng = np.random.default_rng(8)
    spec = ComparisonSpec.fit("classification", np.array(["0", "1"], dtype=object))
    promoted = check_no_false_rollback(
        lambda: classifier_window(rng, spec, 0.05, 0.05), windows=100, streams=200
    )
    assert promoted > 0.9  # 50,000 pairs show non-inferiority within 1 point


def test_regressor_canary_is_rolled_back_and_equal_one_is_not():
    rng = np.random.default_rng(9)
    spec = ComparisonSpec.fit("regression", rng.normal(10.0, 3.0, 5000))
    # Pilot: the effect and spread of d = |e_a| - |e_b| for a 6 % larger error scale.
    pilot = regressor_window(np.random.default_rng(99), spec, 1.06)
    for _ in range(200):
        pilot = pilot.merge(regressor_window(np.random.default_rng(_), spec, 1.06))
    n, total, squares = pilot.n_joined, pilot.sums[0], pilot.sums[1]
    effect, std = -total / n, np.sqrt(squares / n - (total / n) ** 2)
    check_power(lambda: regressor_window(rng, spec, 1.06), effect, std)
    check_no_false_rollback(lambda: regressor_window(rng, spec, 1.0), windows=60, streams=200)
