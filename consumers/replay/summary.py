"""What `driftline replay` prints at the end: a table of the run and what the monitor would have
said (windows, drift, concept drift, alerts), or the same as JSON."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.table import Table

from consumers.replay.backtest import ReplaySummary

SHOWN_ALERTS = 20


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def summary_json(summary: ReplaySummary) -> dict[str, Any]:
    windows = []
    for r in summary.results:
        windows.append(
            {
                "model": r.model,
                "model_version": r.model_version,
                "window_start": _iso(r.window_start),
                "rows": r.drift.n_rows,
                "drift_share": r.drift.drift_share,
                "dataset_drift": r.drift.dataset_drift,
                "drifted_features": list(r.drift.drifted_features),
                "performance_pairs": r.performance.n_pairs,
                "performance_degraded": r.performance.degraded,
                "concept_drift": r.concept_drift,
            }
        )
    return {
        "events": summary.events,
        "seconds": round(summary.seconds, 3),
        "events_per_second": round(summary.events_per_second, 1),
        "first_event": _iso(summary.first),
        "last_event": _iso(summary.last),
        "counters": summary.counters,
        "rejected_by_reason": summary.rejected,
        "windows": windows,
        "alerts": [
            {"kind": a["kind"], "at": _iso(a["at"]), **_alert_fields(a["document"])} for a in summary.alerts
        ],
        "deliveries": summary.deliveries,
    }


def _alert_fields(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "repeat", "rule", "severity", "model", "model_version", "subject", "value", "summary")
    return {k: doc[k] for k in keys if k in doc}


def summary_tables(summary: ReplaySummary) -> list[Table]:
    run = Table("", "", title="driftline replay", show_header=False)
    period = f"{_iso(summary.first)} → {_iso(summary.last)}" if summary.first else "(no readable event)"
    run.add_row("event time", period)
    run.add_row(
        "events", f"{summary.events:,} in {summary.seconds:.1f} s ({summary.events_per_second:,.0f}/s)"
    )
    c = summary.counters
    run.add_row(
        "predictions / outcomes", f"{c['predictions']:,} / {c['outcomes']:,} ({c['joined']:,} joined)"
    )
    reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.rejected.items()))
    run.add_row("rejected", f"{c['rejected']:,}" + (f" ({reasons})" if reasons else ""))
    if c["duplicate_predictions"] or c["late_predictions"]:
        run.add_row("duplicates / late", f"{c['duplicate_predictions']:,} / {c['late_predictions']:,}")
    per_stream: dict[tuple[str, str], list[Any]] = {}
    for result in summary.results:
        per_stream.setdefault((result.model, result.model_version), []).append(result)
    for (model, version), results in sorted(per_stream.items()):
        drifted = [r for r in results if r.drift.dataset_drift]
        flagged = Counter(f for r in results for f in r.drift.drifted_features)
        top = ", ".join(f"{name} ×{n}" for name, n in flagged.most_common(5)) or "none"
        first = f", first at {_iso(drifted[0].window_start)}" if drifted else ""
        run.add_row(f"{model} v{version} windows", f"{len(results)}; dataset drift in {len(drifted)}{first}")
        run.add_row(f"{model} v{version} drifted features", top)
        concept = [r for r in results if r.concept_drift]
        degraded = [r for r in results if r.performance.degraded]
        run.add_row(
            f"{model} v{version} performance",
            f"degraded in {len(degraded)} windows; concept drift flagged in {len(concept)}",
        )
    firing = [
        a
        for a in summary.alerts
        if a["kind"] == "alert"
        and a["document"].get("status") == "firing"
        and not a["document"].get("repeat")
    ]
    by_rule = Counter(a["document"].get("rule") for a in firing)
    run.add_row(
        "alerts that would have fired", ", ".join(f"{k} ×{v}" for k, v in sorted(by_rule.items())) or "none"
    )
    retraining = [a for a in summary.alerts if a["kind"] == "retraining"]
    if retraining:
        run.add_row("retraining webhooks (dry run)", f"{len(retraining)} triggers")
    if summary.deliveries:
        sent = ", ".join(f"{k} ×{v}" for k, v in sorted(summary.deliveries.items()))
        run.add_row("notifications (dry run)", sent)
    tables = [run]
    if firing:
        alerts = Table(
            "fired at (event time)", "rule", "severity", "model", "subject", "value", title="alerts"
        )
        for a in firing[:SHOWN_ALERTS]:
            doc = a["document"]
            value = doc.get("value")
            alerts.add_row(
                _iso(a["at"]) or "",
                str(doc.get("rule")),
                str(doc.get("severity")),
                f"{doc.get('model')} v{doc.get('model_version')}",
                str(doc.get("subject") or ""),
                f"{value:.4g}" if isinstance(value, float) else str(value),
            )
        if len(firing) > SHOWN_ALERTS:
            alerts.caption = f"first {SHOWN_ALERTS} of {len(firing)}; --json lists all"
        tables.append(alerts)
    return tables
