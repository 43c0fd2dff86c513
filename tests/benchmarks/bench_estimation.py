"""Benchmark: estimated performance against the realised one, driftline's CBPE beside NannyML's, and
the cost of every new statistical core (estimation, multivariate drift, segments, version comparison).

    .venv/bin/python tests/benchmarks/bench_estimation.py [--nannyml-python PATH] [--out FILE.json]

Accuracy: a seeded classifier stream (reference 20,000 rows; 20 analysis windows of 2,000 rows whose
inputs shift step by step, so accuracy moves). Per window the estimate is made from the scores alone
and compared with the accuracy and ROC AUC realised on the same rows' outcomes: mean absolute error,
and how often the realised value fell in the estimate's band (driftline: 95 %; NannyML: its
confidence boundaries, +-3 sampling errors). Two cases: "calibrated" (the score is a monotone function
of the true probability, CBPE's assumption) and "misspecified" (the model misses an interaction, so
the score's calibration changes as the inputs move). Both tools get the same frames.

NannyML pins libraries that conflict with ours, so it runs in its own virtual environment, called
as a subprocess:

    python3.11 -m venv .venv-nannyml && .venv-nannyml/bin/pip install nannyml==0.13.1 statsmodels
    .venv/bin/python tests/benchmarks/bench_estimation.py --nannyml-python .venv-nannyml/bin/python

(statsmodels: nannyml 0.13.1 imports it without declaring it.) Without `--nannyml-python` (or the
DRIFTLINE_NANNYML_PYTHON variable) the NannyML column is skipped with a message.

Cost: CPU seconds per event of each accumulator's update on 20,000-row batches, and per evaluation of
each evaluator (best of `--repeats`), including the domain classifier on 2,000 + 5,000 rows x 50
features and segment drift over 51 segments x 20 features.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from monitor.core.comparison import (  # noqa: E402
    ComparisonSpec,
    MeanSums,
    PairedWindow,
    VerdictRule,
    compare_unpaired,
    compare_versions,
)
from monitor.core.estimation import CBPEEstimator, DLEEstimator  # noqa: E402
from monitor.core.multivariate import DomainClassifier, PCAReconstruction  # noqa: E402
from monitor.core.performance import ClassificationPerformance  # noqa: E402
from monitor.core.segments import SegmentProfiles, segment_drift  # noqa: E402
from tests.unit import canary_world  # noqa: E402
from tests.unit.core.simulated import KINDS, features, regression_rows, true_logit  # noqa: E402

WINDOWS, ROWS, REFERENCE = 20, 2000, 20_000

NANNYML_SCRIPT = """
import json, sys, warnings
import pandas as pd
import nannyml as nml
warnings.simplefilter("ignore")
folder, chunk = sys.argv[1], int(sys.argv[2])
reference = pd.read_csv(f"{folder}/reference.csv")
analysis = pd.read_csv(f"{folder}/analysis.csv")
estimator = nml.CBPE(y_pred_proba="score", y_pred="pred", y_true="y", problem_type="classification_binary",
                     metrics=["accuracy", "roc_auc"], chunk_size=chunk)
estimator.fit(reference)
frame = estimator.estimate(analysis).filter(period="analysis").to_df()
columns = ("value", "lower_confidence_boundary", "upper_confidence_boundary")
out = {m: frame[[(m, c) for c in columns]].values.tolist() for m in ("accuracy", "roc_auc")}
print(json.dumps({"version": nml.__version__, **out}))
"""


def classifier_stream(case: str, rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    f = features(rng, n, shift)
    logit = true_logit(f)
    if case == "misspecified":
        truth = logit + 1.2 * f["x0"] * f["x2"]  # an interaction the model does not know
        score = 1.0 / (1.0 + np.exp(-0.7 * logit))
    else:
        truth, score = logit, 1.0 / (1.0 + np.exp(-0.7 * logit))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-truth))).astype(int)
    return pd.DataFrame({"score": score, "pred": (score >= 0.5).astype(int), "y": y})


def run_nannyml(python: str, reference: pd.DataFrame, analysis: pd.DataFrame) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        reference.to_csv(f"{folder}/reference.csv", index=False)
        analysis.drop(columns="y").to_csv(f"{folder}/analysis.csv", index=False)
        done = subprocess.run(
            [python, "-c", NANNYML_SCRIPT, folder, str(ROWS)], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"NannyML failed: {done.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def accuracy_case(case: str, nannyml_python: str | None) -> list[dict[str, Any]]:
    rng = np.random.default_rng(42)
    reference = classifier_stream(case, rng, REFERENCE, 0.0)
    windows = [classifier_stream(case, rng, ROWS, shift) for shift in np.linspace(0.0, -2.0, WINDOWS)]
    estimator = CBPEEstimator.fit(reference["score"], reference["y"])
    realised, ours = [], []
    for w in windows:
        labels = w["pred"].astype(str).to_numpy(dtype=object)
        metrics = ClassificationPerformance("1").update(
            w["y"].astype(str).to_numpy(dtype=object), labels, w["score"]
        )
        realised.append(metrics.metrics())
        estimate = estimator.window().update(labels, w["score"].to_numpy()).estimate().metrics
        ours.append(
            {m: (estimate[m].value, estimate[m].lower, estimate[m].upper) for m in ("accuracy", "roc_auc")}
        )
    theirs: dict[str, Any] | None = None
    if nannyml_python:
        theirs = run_nannyml(nannyml_python, reference, pd.concat(windows, ignore_index=True))
    rows = []
    for metric in ("accuracy", "roc_auc"):
        truth = np.array([r[metric] for r in realised])
        row: dict[str, Any] = {"case": case, "metric": metric, "realised_range": [truth.min(), truth.max()]}
        tools = {"driftline": [o[metric] for o in ours]}
        if theirs is not None:
            tools[f"nannyml {theirs['version']}"] = theirs[metric]
        for tool, estimates in tools.items():
            value, lower, upper = (np.array(x, dtype=float) for x in zip(*estimates, strict=True))
            row[tool] = {
                "mae": float(np.mean(np.abs(value - truth))),
                "max_error": float(np.max(np.abs(value - truth))),
                "coverage": float(np.mean((lower <= truth) & (truth <= upper))),
                "mean_band_width": float(np.mean(upper - lower)),
            }
        rows.append(row)
    return rows


def best(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return min(times)


def wide_rows(rng: np.random.Generator, n: int, flip: bool = False) -> dict[str, np.ndarray]:
    """45 numeric (pairs correlated) and 5 categorical features."""
    z = rng.normal(size=(n, 45))
    z[:, 1::2][:, :22] = (-0.7 if flip else 0.7) * z[:, 0::2][:, :22] + 0.71 * z[:, 1::2][:, :22]
    rows = {f"n{i}": z[:, i] for i in range(45)}
    for i in range(5):
        rows[f"c{i}"] = np.array(list("abcdefgh"), dtype=object)[rng.integers(0, 8, n)]
    return rows


def costs(repeats: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    batch = 20_000
    out = []

    def per_event(name: str, action: Callable[[], Any]) -> None:
        seconds = best(action, repeats)
        out.append(
            {
                "what": name,
                "kind": "update",
                "rows": batch,
                "seconds": seconds,
                "us_per_event": seconds / batch * 1e6,
            }
        )

    def per_call(name: str, action: Callable[[], Any], rows: str) -> None:
        out.append({"what": name, "kind": "evaluate", "rows": rows, "seconds": best(action, repeats)})

    ref = classifier_stream("calibrated", rng, REFERENCE, 0.0)
    cbpe = CBPEEstimator.fit(ref["score"], ref["y"])
    live = classifier_stream("calibrated", rng, batch, 0.5)
    labels, scores = live["pred"].astype(str).to_numpy(dtype=object), live["score"].to_numpy()
    window = cbpe.window().update(labels, scores)
    per_event("CBPE window update", lambda: cbpe.window().update(labels, scores))
    per_call("CBPE estimate", window.estimate, "any")

    f, pred, y = regression_rows(rng, REFERENCE)
    dle = DLEEstimator.fit(f, KINDS, pred, y)
    f, pred, _ = regression_rows(rng, batch)
    per_event("DLE window update (5 features, 2 x 50 trees)", lambda: dle.window().update(f, pred))
    per_call("DLE estimate", dle.window().update(f, pred).estimate, "any")

    reference = wide_rows(rng, REFERENCE)
    kinds = {name: ("numeric" if name.startswith("n") else "categorical") for name in reference}
    pca = PCAReconstruction.fit(reference, kinds)
    live_rows = wide_rows(rng, batch, flip=True)
    per_event("PCA reconstruction update (50 features)", lambda: pca.window().update(live_rows))
    pca_window = pca.window().update(live_rows)
    per_call("PCA evaluate", lambda: pca.evaluate(pca_window), "any")
    domain = DomainClassifier.fit(reference, kinds)
    ref_sample = {k: v[:5000] for k, v in reference.items()}
    win_sample = {k: v[:2000] for k, v in live_rows.items()}
    per_call(
        "domain classifier evaluate (50 features)",
        lambda: domain.evaluate(win_sample, ref_sample),
        "2,000 + 5,000",
    )

    seg_rows = {f"n{i}": reference[f"n{i}"] for i in range(18)} | {
        "c0": reference["c0"],
        "c1": reference["c1"],
    }
    seg_kinds = {k: kinds[k] for k in seg_rows}
    segments = np.array([f"s{i:02d}" for i in rng.integers(0, 60, REFERENCE)], dtype=object)
    profiles = SegmentProfiles.fit(seg_rows, seg_kinds, segments, max_segments=50)
    live_seg = {k: live_rows[k] for k in seg_rows}
    live_segments = np.array([f"s{i:02d}" for i in rng.integers(0, 60, batch)], dtype=object)
    per_event("segment profiles update (51 x 20)", lambda: profiles.window().update(live_seg, live_segments))
    seg_window = profiles.window().update(live_seg, live_segments)
    per_call("segment drift (51 x 20, BH)", lambda: segment_drift(profiles, seg_window), "any")

    spec = ComparisonSpec.fit("classification", np.array(["0", "1"], dtype=object))
    flip = np.where(rng.random(batch) < 0.1, np.where(labels == "1", "0", "1"), labels).astype(object)
    truth = live["y"].astype(str).to_numpy(dtype=object)
    per_event(
        "paired comparison update (predictions + outcomes)",
        lambda: PairedWindow(spec).add_predictions(labels, flip).add_outcomes(labels, flip, truth),
    )
    paired = PairedWindow(spec).add_predictions(labels, flip).add_outcomes(labels, flip, truth)
    per_call("compare versions", lambda: compare_versions(paired), "any")
    a, b = MeanSums(30_000, 25_950, 25_950), MeanSums(30_000, 25_050, 25_050)
    per_call(
        "unpaired comparison (canary verdict)",
        lambda: compare_unpaired("classification", a, b, VerdictRule()),
        "any",
    )
    out += comparison_service(repeats)
    return out


def comparison_service(repeats: int, hours: int = 6, rows: int = 20_000) -> list[dict[str, Any]]:
    """The canary world (tests/unit/canary_world.py: versions 1 and 2, all joined) through
    Service.ingest and Service.evaluate: without a comparison and with a canary comparison (half the
    requests to each version), and with a shadow comparison (every request predicted by both under
    one id, so two predictions per request). CPU seconds per request of ingest (its predictions and
    its outcome), and per evaluation pass (one hourly window of each version)."""
    out = []
    cases = {
        "base pipeline (2 versions)": (canary_world.config(compared=False), False),
        "with canary comparison": (canary_world.config(), False),
        "with shadow comparison (2 predictions a request)": (canary_world.config(mode="shadow"), True),
    }
    for name, (cfg, shadow) in cases.items():
        built = canary_world.baselines(cfg)
        ingest, evaluate = [], []
        for _ in range(repeats):
            service = canary_world.service(cfg, built)
            rng = np.random.default_rng(11)
            spent_ingest = spent_evaluate = 0.0
            for hour in range(hours):
                if shadow:
                    batch = canary_world.shadow_hour_batch(hour, rows, rng, 0.865, 0.835, 0.8)
                else:
                    batch = canary_world.hour_batch(hour, rows, rng, 0.865, 0.835, 0.5)
                start = time.process_time()
                service.ingest(batch, [])
                spent_ingest += time.process_time() - start
                start = time.process_time()
                service.evaluate()
                spent_evaluate += time.process_time() - start
            ingest.append(spent_ingest)
            evaluate.append(spent_evaluate / (hours - 1))  # the first hour closes no window
        out.append(
            {
                "what": f"service ingest, {name}",
                "kind": "update",
                "rows": rows * hours,
                "seconds": min(ingest),
                "us_per_event": min(ingest) / (rows * hours) * 1e6,
            }
        )
        out.append(
            {
                "what": f"service evaluation pass, {name}",
                "kind": "evaluate",
                "rows": "2 windows",
                "seconds": min(evaluate),
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nannyml-python", default=os.environ.get("DRIFTLINE_NANNYML_PYTHON"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench-estimation.json")
    args = parser.parse_args()
    if not args.nannyml_python:
        print("NannyML column skipped: pass --nannyml-python (see this script's docstring for the install)")
    accuracy: list[dict[str, Any]] = []
    for case in ("calibrated", "misspecified"):
        try:
            accuracy += accuracy_case(case, args.nannyml_python)
        except (RuntimeError, OSError) as exc:  # a broken NannyML environment must not fail the run
            print(f"NannyML column skipped ({exc}); driftline alone:")
            accuracy += accuracy_case(case, None)
    print(f"\nEstimated vs realised over {WINDOWS} windows of {ROWS:,} rows (reference {REFERENCE:,})")
    print("| case | metric | realised range | tool | MAE | max error | band coverage | mean band width |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for row in accuracy:
        lo, hi = row["realised_range"]
        for tool, numbers in row.items():
            if isinstance(numbers, dict):
                cells = [row["case"], row["metric"], f"{lo:.3f}-{hi:.3f}", tool, f"{numbers['mae']:.4f}"]
                cells += [
                    f"{numbers['max_error']:.4f}",
                    f"{numbers['coverage']:.2f}",
                    f"{numbers['mean_band_width']:.4f}",
                ]
                print("| " + " | ".join(cells) + " |")
    cost = costs(args.repeats)
    print("\nCost (CPU seconds, best of repeats)")
    print("| what | rows | seconds | us per event |")
    print("|---|---:|---:|---:|")
    for row in cost:
        per = f"{row['us_per_event']:.2f}" if "us_per_event" in row else ""
        rows = f"{row['rows']:,}" if isinstance(row["rows"], int) else row["rows"]
        print(f"| {row['what']} | {rows} | {row['seconds']:.5f} | {per} |")
    Path(args.out).write_text(json.dumps({"accuracy": accuracy, "cost": cost}, indent=2, default=float))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
