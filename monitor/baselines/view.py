"""Human-readable rendering of a baseline for `driftline baseline show`."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from monitor.baselines.baseline import Baseline
from monitor.baselines.reference_performance import HELD_OUT
from monitor.core.sketch import NumericSketch, Sketch, ValueCounts


def _top_categories(sketch: ValueCounts, limit: int = 4) -> str:
    total = sketch.n_present or 1
    parts = [
        f"{k}: {c / total:.1%}" for k, c in zip(sketch.known[:limit], sketch.counts[:limit], strict=False)
    ]
    more = len(sketch.known) - limit
    return ", ".join(parts) + (f", … (+{more})" if more > 0 else "")


def _describe(name: str, sketch: Sketch) -> tuple[str, ...]:
    total = sketch.n_present + sketch.missing
    missing = f"{sketch.missing / total:.1%}" if total else "-"
    if isinstance(sketch, NumericSketch):
        m = sketch.moments
        shape = f"mean {m.mean:.4g}  std {m.std:.4g}  range [{m.min:.4g}, {m.max:.4g}]"
        bins = f"{len(sketch.edges) - 1} bins" + (" (discrete)" if sketch.values else "")
        return name, "numeric", f"{sketch.n_present:,}", missing, bins, shape
    return (
        name,
        "categorical",
        f"{sketch.n_present:,}",
        missing,
        f"{len(sketch.known)} categories",
        _top_categories(sketch),
    )


def _origin(origin: dict[str, Any]) -> str:
    method = origin.get("method")
    if method == "held_out":
        return (
            f"held-out data: {origin.get('rows', 0):,} rows of {origin.get('source') or 'performance data'}"
        )
    if method == "in_sample_inflated":
        return (
            f"the training data (in-sample), inflated by {origin['margin']:.0%} (+{origin['floor']} for "
            "ratios); give held-out rows with --performance-data to measure it"
        )
    return "data not recorded (a baseline built before driftline recorded it)"


def _estimator(state: dict[str, Any] | None) -> str:
    if state is None:
        return "performance estimate without outcomes: none (no score, no target, or a multiclass target)"
    method = {"cbpe": "CBPE (calibrated scores)", "dle": "DLE (loss models on the features)"}
    name = method.get(str(state.get("kind")), str(state.get("kind")))
    return f"performance estimate without outcomes: {name}, fitted on {int(state['n_reference']):,} rows"


def render_baseline(baseline: Baseline) -> Group:
    head = Text.assemble(
        ("baseline ", "bold"),
        (baseline.id, "bold cyan"),
        f"  model {baseline.model} v{baseline.model_version}"
        f"  ·  {baseline.n_rows:,} rows from {baseline.source}"
        f"  ·  built {baseline.created_at:%Y-%m-%d %H:%M:%S %Z}",
    )
    table = Table("column", "kind", "rows", "missing", "bins", "distribution", title="reference profile")
    profile = baseline.profile
    for name, sketch in profile.features.items():
        table.add_row(*_describe(name, sketch))
    table.add_section()
    table.add_row(*_describe("(prediction)", profile.prediction))
    if profile.score is not None:
        table.add_row(*_describe("(score)", profile.score))
    if profile.target is not None:
        table.add_row(*_describe("(target)", profile.target))
    parts: list[Text | Table] = [head, table]
    if baseline.reference_performance:
        origin = baseline.reference_origin or {}
        in_sample = origin.get("in_sample") or {}
        columns = ["metric", "reference"] + (["in-sample"] if in_sample else [])
        perf = Table(*columns, title="reference performance")
        for key, value in baseline.reference_performance.items():
            row = [key, "-" if value is None else f"{value:.4f}"]
            if in_sample:
                raw = in_sample.get(key)
                row.append("-" if raw is None else f"{raw:.4f}")
            perf.add_row(*row)
        parts += [perf, Text(f"reference performance from {_origin(origin)}")]
    parts.append(Text(_estimator(baseline.estimator)))
    segments = baseline.segment_profiles
    if segments is not None:
        kept = segments.segment_map.segments
        parts.append(Text(f"drift per segment over {len(kept)} segments and the rest: {', '.join(kept)}"))
    parts += _segment_performance(baseline)
    sample = profile.reservoir
    parts.append(Text(f"row sample: {len(sample):,} of {sample.n_seen:,} rows (seed {sample.seed})"))
    parts += _multivariate(baseline)
    if baseline.truncated_categories:
        parts.append(Text(f"categories cut to the most frequent: {', '.join(baseline.truncated_categories)}"))
    return Group(*parts)


def _segment_performance(baseline: Baseline) -> list[Table | Text]:
    state, references = baseline.segment_performance, baseline.segment_references
    if state is None or references is None:
        return []
    table = Table("segment", "rows", state["metric"], title="reference performance per segment")
    for label, reference in references.items():
        table.add_row(label, f"{reference.n:,}", f"{reference.value:.4f}")
    origin = "held-out rows" if state["origin"] == HELD_OUT else "the reference rows, inflated (in-sample)"
    return [table, Text(f"reference performance per segment from {origin}")]


def _multivariate(baseline: Baseline) -> list[Text]:
    lines = []
    pca = baseline.pca
    if pca is not None:
        lines.append(
            Text(
                f"multivariate drift: PCA reconstruction, {len(pca.components)} component(s) of "
                f"{pca.encoder.width} encoded columns, reference mean error {pca.reference_mean_error:.4g} "
                f"(chunks of {pca.chunk_size:,} rows, band ±{pca.k:g} sd)"
            )
        )
    domain = baseline.domain_classifier
    if domain is not None:
        lines.append(
            Text(
                f"multivariate drift: domain classifier (alpha {domain.alpha:g}, ROC AUC at least "
                f"{domain.min_auc:g}, {domain.permutations} permutations)"
            )
        )
    return lines or [Text("multivariate drift: none in this baseline")]
