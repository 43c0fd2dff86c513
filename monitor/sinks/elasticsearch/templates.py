"""Index templates (explicit mappings), the ILM retention policy, and retention by deleting old
daily indices on servers without ILM.

Mappings are `dynamic: strict` where the exporter writes every field itself, so a document
that does not fit is rejected by the server (and counted) instead of silently adding fields;
the performance metrics and per-column statistics are `dynamic: false` objects: a metric added
later is kept in `_source` without breaking the write. Events (alerts) come from other parts of
the service, so their index maps strings as keywords and takes new fields.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from monitor.sinks.elasticsearch.documents import EVENTS, FEATURES, KINDS, WINDOWS

log = logging.getLogger("driftline.elasticsearch")

KEYWORD: dict[str, Any] = {"type": "keyword"}
DATE: dict[str, Any] = {"type": "date"}
FLOAT: dict[str, Any] = {"type": "double"}
LONG: dict[str, Any] = {"type": "long"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc", "roc_auc_error_bound", "log_loss")
REGRESSION = ("mae", "rmse", "mape", "r2", "abs_error_std")
COUNTS = ("n", "n_scored", "n_mape_skipped")
STATISTICS = ("psi", "jensen_shannon", "hellinger", "wasserstein")


def _metrics() -> dict[str, Any]:
    fields = {name: FLOAT for name in CLASSIFICATION + REGRESSION} | {name: LONG for name in COUNTS}
    return {"dynamic": False, "properties": fields}


WINDOW_FIELDS: dict[str, Any] = {
    "model": KEYWORD,
    "model_version": KEYWORD,
    "window_id": KEYWORD,
    "window_start": DATE,
    "window_end": DATE,
    "evaluated_at": DATE,
    "final": BOOLEAN,
}
_COLUMN_DRIFT = {
    "properties": {
        "method": KEYWORD,
        "value": FLOAT,
        "threshold": FLOAT,
        "drift_detected": BOOLEAN,
        "p_value": FLOAT,
        "distance": FLOAT,
        "distance_method": KEYWORD,
    }
}

_MULTIVARIATE_DETECTOR = {
    "properties": {
        "method": KEYWORD,
        "value": FLOAT,
        "lower": FLOAT,
        "upper": FLOAT,
        "drift_detected": BOOLEAN,
        "n_window": LONG,
        "n_reference": LONG,
        "p_value": FLOAT,
    }
}

_UNPAIRED = {
    "properties": {
        "metric": KEYWORD,
        "n_a": LONG,
        "n_b": LONG,
        "metric_a": FLOAT,
        "metric_b": FLOAT,
        "difference": FLOAT,
        "difference_lower": FLOAT,
        "difference_upper": FLOAT,
        "verdict": KEYWORD,
        "reason": {"type": "text"},
    }
}

_PREDICTION_DRIFT = {
    "properties": {
        "statistic": KEYWORD,
        "distance": FLOAT,
        "p_value": FLOAT,
        "drift_detected": BOOLEAN,
    }
}

_PAIRED = {
    "properties": {
        "n_shared": LONG,
        "agreement": FLOAT,
        "agreement_lower": FLOAT,
        "agreement_upper": FLOAT,
        "prediction_drift": _PREDICTION_DRIFT,
        "metric": KEYWORD,
        "n_joined": LONG,
        "metric_a": FLOAT,
        "metric_b": FLOAT,
        "difference": FLOAT,
        "difference_lower": FLOAT,
        "difference_upper": FLOAT,
        "mcnemar_p_value": FLOAT,
        "mcnemar_mid_p_value": FLOAT,
        "verdict": KEYWORD,
        "reason": {"type": "text"},
    }
}

MAPPINGS: dict[str, dict[str, Any]] = {
    WINDOWS: {
        "dynamic": "strict",
        "properties": {
            **WINDOW_FIELDS,
            "baseline_id": KEYWORD,
            "n_rows": LONG,
            "n_drifted": LONG,
            "n_features": LONG,
            "drift_share": FLOAT,
            "drift_share_threshold": FLOAT,
            "dataset_drift": BOOLEAN,
            "drifted_features": KEYWORD,
            "prediction_drift": _COLUMN_DRIFT,
            "target_drift": _COLUMN_DRIFT,
            "performance": {
                "properties": {
                    "n_pairs": LONG,
                    "degraded": BOOLEAN,
                    "metrics": _metrics(),
                    "reference": _metrics(),
                }
            },
            "estimated": {
                "properties": {
                    "method": KEYWORD,
                    "n_rows": LONG,
                    "degraded": BOOLEAN,
                    "metrics": _metrics(),
                    "lower": _metrics(),
                    "upper": _metrics(),
                    "error": _metrics(),
                }
            },
            "segments": {
                "properties": {
                    "method": KEYWORD,
                    "alpha": FLOAT,
                    "n_tests": LONG,
                    "n_drifted": LONG,
                    "drifted_segments": KEYWORD,
                    "drifted": {
                        "properties": {
                            "segment": KEYWORD,
                            "feature": KEYWORD,
                            "statistic": FLOAT,
                            "p_value": FLOAT,
                            "adjusted_p_value": FLOAT,
                            "n_reference": LONG,
                            "n_window": LONG,
                        }
                    },
                    "quality_tests": LONG,
                    "degraded_segments": KEYWORD,
                    "quality": {
                        "properties": {
                            "segment": KEYWORD,
                            "feature": KEYWORD,
                            "measure": KEYWORD,
                            "ratio": FLOAT,
                            "reference_ratio": FLOAT,
                            "n_window": LONG,
                            "n_reference": LONG,
                            "p_value": FLOAT,
                            "adjusted_p_value": FLOAT,
                        }
                    },
                    "performance_tests": LONG,
                    "performance_degraded_segments": KEYWORD,
                    "performance": {
                        "properties": {
                            "segment": KEYWORD,
                            "n_pairs": LONG,
                            "metric": KEYWORD,
                            "value": FLOAT,
                            "reference": FLOAT,
                            "p_value": FLOAT,
                            "adjusted_p_value": FLOAT,
                            "degraded": BOOLEAN,
                        }
                    },
                }
            },
            "comparison": {
                "properties": {
                    "baseline_version": KEYWORD,
                    "candidate_version": KEYWORD,
                    "mode": KEYWORD,
                    "since": DATE,
                    "verdict": KEYWORD,
                    "verdict_since": DATE,
                    "verdict_window_start": DATE,
                    "cumulative": _UNPAIRED,
                    "window": _UNPAIRED,
                    "prediction_drift": _PREDICTION_DRIFT,
                    "paired": _PAIRED,
                    "paired_window": _PAIRED,
                }
            },
            "concept_drift": BOOLEAN,
            "concept_drift_at": DATE,
            "expired_predictions": LONG,
            "label_delay_count": LONG,
            "label_delay_sum_seconds": FLOAT,
            "quality": {
                "properties": {
                    "max_missing_ratio": FLOAT,
                    "max_out_of_range_ratio": FLOAT,
                    "max_unseen_ratio": FLOAT,
                    "columns_with_missing": KEYWORD,
                }
            },
            "multivariate": {
                "properties": {
                    "drift_detected": BOOLEAN,
                    "pca": _MULTIVARIATE_DETECTOR,
                    "domain_classifier": _MULTIVARIATE_DETECTOR,
                }
            },
        },
    },
    FEATURES: {
        "dynamic": "strict",
        "properties": {
            **WINDOW_FIELDS,
            "feature": KEYWORD,
            "role": KEYWORD,
            "column_kind": KEYWORD,
            "method": KEYWORD,
            "statistic": FLOAT,
            "threshold": FLOAT,
            "drift_detected": BOOLEAN,
            "p_value": FLOAT,
            "distance": FLOAT,
            "distance_method": KEYWORD,
            "n_reference": LONG,
            "n_current": LONG,
            "exact": BOOLEAN,
            "statistics": {"dynamic": False, "properties": {name: FLOAT for name in STATISTICS}},
            "n_rows": LONG,
            "missing_ratio": FLOAT,
            "out_of_range_ratio": FLOAT,
            "unseen_ratio": FLOAT,
        },
    },
    EVENTS: {
        "dynamic": True,
        "dynamic_templates": [{"strings_as_keywords": {"match_mapping_type": "string", "mapping": KEYWORD}}],
        "properties": {
            "@timestamp": DATE,
            "event_kind": KEYWORD,
            "model": KEYWORD,
            "model_version": KEYWORD,
            "feature": KEYWORD,
            "rule": KEYWORD,
            "state": KEYWORD,
            "severity": KEYWORD,
            "episode_start": DATE,  # concept-drift episodes (kind concept_drift_episode)
            "episode_end": DATE,
        },
    },
}


def policy_name(prefix: str) -> str:
    return f"{prefix}-retention"


def ilm_policy(retention_days: int) -> dict[str, Any]:
    """Delete an index `retention_days` after it was created (ILM counts from creation)."""
    return {
        "phases": {
            "hot": {"min_age": "0ms", "actions": {}},
            "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
        }
    }


def install_ilm_policy(es: Elasticsearch, prefix: str, retention_days: int) -> bool:
    """True if the server took the policy; False (with a log line saying what happens instead)
    when it has no ILM, as noida-db and some managed services."""
    try:
        es.ilm.put_lifecycle(name=policy_name(prefix), policy=ilm_policy(retention_days))
    except ApiError as err:
        log.info(
            "this Elasticsearch has no ILM (HTTP %s): the %d-day retention is enforced by deleting "
            "%s-* daily indices older than that",
            err.meta.status,
            retention_days,
            prefix,
        )
        return False
    return True


def install_templates(es: Elasticsearch, prefix: str, lifecycle: str | None) -> None:
    """One composable template per kind of index; `lifecycle` names the ILM policy, if any."""
    for kind in KINDS:
        settings: dict[str, Any] = {"number_of_shards": 1}
        if lifecycle is not None:
            settings["index.lifecycle.name"] = lifecycle
        es.indices.put_index_template(
            name=f"{prefix}-{kind}",
            index_patterns=[f"{prefix}-{kind}-*"],
            priority=200,
            template={"settings": settings, "mappings": MAPPINGS[kind]},
            meta={"managed_by": "driftline"},
        )
        if MAPPINGS[kind]["dynamic"] == "strict":
            _add_new_fields(es, f"{prefix}-{kind}-*", kind)


def _add_new_fields(es: Elasticsearch, pattern: str, kind: str) -> None:
    """Give the daily indices that exist already the fields added to their mapping since they were
    created: a strict mapping would reject the rest of the day's documents otherwise. An index whose
    mapping conflicts (not created from our template) is left as it is, with a log line."""
    try:
        es.indices.put_mapping(index=pattern, properties=MAPPINGS[kind]["properties"], allow_no_indices=True)
    except ApiError as err:
        log.warning(
            "could not add new fields to the existing %s indices (%s): documents with them are "
            "rejected until the next daily index",
            pattern,
            err.message,
        )


def expired_indices(names: Iterable[str], prefix: str, now: datetime, retention_days: int) -> list[str]:
    """Our daily indices whose whole day lies more than `retention_days` before `now`.
    Names that do not end in a valid date are never touched."""
    cutoff = (now.astimezone(UTC) - timedelta(days=retention_days)).date()
    expired = []
    for name in names:
        for kind in KINDS:
            head = f"{prefix}-{kind}-"
            if not name.startswith(head):
                continue
            try:
                day = datetime.strptime(name[len(head) :], "%Y.%m.%d").date()
            except ValueError:
                continue
            if day < cutoff:
                expired.append(name)
    return sorted(expired)


def delete_expired(es: Elasticsearch, prefix: str, now: datetime, retention_days: int) -> list[str]:
    """Delete our daily indices past the retention, by exact name (wildcard deletes are refused
    by Elasticsearch 8's default `action.destructive_requires_name`)."""
    existing = es.indices.get(index=f"{prefix}-*", ignore_unavailable=True)
    expired = expired_indices(existing.body, prefix, now, retention_days)
    if expired:
        es.indices.delete(index=",".join(expired))
        log.info(
            "deleted %d Elasticsearch indices past the %d-day retention: %s",
            len(expired),
            retention_days,
            ", ".join(expired),
        )
    return expired
