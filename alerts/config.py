"""The `alerts:` section of the config: rules, receivers, retraining policies, delivery.

Every rule is validated at start-up and a bad one fails with its name in the message. Without
`rules`, the default set (alerts.defaults) applies; with `default_rules: true` (the default) the
user's rules are added to it, a user rule replacing the default of the same name.

    alerts:
      rules:
        - {name: spend_psi, signal: feature_drift, statistic: psi, op: ">", threshold: 0.2,
           resolve_threshold: 0.1, for: 2, severity: critical, features: [monthly_spend]}
      receivers:
        - {name: ops, kind: webhook, url: "https://ops.example/hooks/driftline", secret_env: OPS_SECRET}
        - {name: am, kind: alertmanager, url: "http://alertmanager:9093"}
      retraining:
        - {model: churn, url: "https://ml.example/retrain", on: [feature_drift], min_interval: 12h}
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from alerts.defaults import DEFAULT_RULE_SPECS
from monitor.config_types import Duration, Strict, duration, parse_duration
from monitor.core.performance.degradation import HIGHER_IS_BETTER

Signal = Literal[
    "feature_drift",  # per feature: 1 if drifted, or one of its statistics (`statistic`)
    "drift_share",  # per model version: share of drifted features
    "missing_ratio",  # per feature: data quality ratios of the window
    "out_of_range_ratio",
    "unseen_ratio",
    "performance_drop",  # per model version: reference minus latest (`metric`), or relative
    "estimated_performance_drop",  # the same for the metric estimated without outcomes
    "segment_drift",  # per segment: features drifted within it (models with `segments`)
    "segment_quality",  # per segment: (feature, measure) quality shares that rose within it
    "segment_performance",  # per tested segment: 1 if its realised performance degraded, else 0
    "concept_drift",  # per model version: 1 while a concept-drift episode is open, 0 once it closed
    "multivariate_drift",  # per model version: 1 if a multivariate detector fired on the window
    "version_rollback",  # per candidate version: 1 while its comparison's verdict is rollback
    "rejected_ratio",  # whole service: share of messages dead-lettered since the last pass
    "staleness",  # per model version: seconds since the last prediction arrived
]
PER_FEATURE = {"feature_drift", "missing_ratio", "out_of_range_ratio", "unseen_ratio"}
# Performance metrics where a higher value is better; for the others a drop is an increase.
PERFORMANCE_METRICS = HIGHER_IS_BETTER | {"log_loss", "mae", "rmse", "mape"}
ESTIMATED_METRICS = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse"})
Op = Literal[">", ">=", "<", "<="]
VerdictName = Literal["rollback", "promote", "hold"]


def _seconds(value: Any) -> Any:
    """Thresholds of the staleness signal may be durations ('2h'); they are compared as seconds."""
    parsed = parse_duration(value)
    return parsed.total_seconds() if isinstance(parsed, timedelta) else value


Threshold = Annotated[float, BeforeValidator(_seconds)]


def _windows_or_duration(value: Any) -> Any:
    """`for`: a count of windows (an integer) or a duration; a string must be a duration, and its
    error is the duration's (not one error per member of the union)."""
    return duration(value) if isinstance(value, str) else value


WindowsOrDuration = Annotated[int | timedelta, BeforeValidator(_windows_or_duration)]


class RuleConfig(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="unique; the alert's name")
    signal: Signal
    op: Op = ">="
    threshold: Threshold
    resolve_threshold: Threshold | None = Field(
        default=None, description="hysteresis: resolves only once the value is past this, not the threshold"
    )
    for_: WindowsOrDuration = Field(
        default=1, alias="for", description="consecutive breaching windows, or how long (a duration)"
    )
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    models: list[str] = Field(default_factory=list, description="only these models (default: all)")
    versions: list[str] = Field(default_factory=list, description="only these model versions (default: all)")
    features: list[str] = Field(default_factory=list, description="per-feature signals: only these")
    statistic: str = Field(default="detected", description="feature_drift: detected, value or a statistic")
    metric: str = Field(default="accuracy", description="(estimated_)performance_drop: which metric")
    relative: bool = Field(
        default=False, description="(estimated_)performance_drop: as a share of the reference"
    )
    receivers: list[str] | None = Field(default=None, description="receiver names (default: all)")
    repeat_interval: Duration | None = Field(default=None, description="overrides alerts.repeat_interval")
    cooldown: Duration | None = Field(default=None, description="overrides alerts.cooldown")
    summary: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> RuleConfig:
        where = f"rule {self.name!r}"
        if isinstance(self.for_, int) and self.for_ < 1:
            raise ValueError(f"{where}: `for` must be at least 1 window (or a duration)")
        if isinstance(self.for_, timedelta) and self.for_ < timedelta(0):
            raise ValueError(f"{where}: `for` must not be negative")
        if self.resolve_threshold is not None:
            upward = self.op in (">", ">=")
            if (upward and self.resolve_threshold > self.threshold) or (
                not upward and self.resolve_threshold < self.threshold
            ):
                side = "at or below" if upward else "at or above"
                raise ValueError(
                    f"{where}: resolve_threshold {self.resolve_threshold} must be {side} "
                    f"the threshold {self.threshold} (op {self.op!r})"
                )
        if self.features and self.signal not in PER_FEATURE:
            raise ValueError(f"{where}: `features` only applies to per-feature signals {sorted(PER_FEATURE)}")
        if self.signal == "performance_drop" and self.metric not in PERFORMANCE_METRICS:
            raise ValueError(f"{where}: unknown metric {self.metric!r}; one of {sorted(PERFORMANCE_METRICS)}")
        if self.signal == "estimated_performance_drop" and self.metric not in ESTIMATED_METRICS:
            raise ValueError(
                f"{where}: metric {self.metric!r} is not estimated without outcomes; "
                f"one of {sorted(ESTIMATED_METRICS)}"
            )
        return self


class ReceiverConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["webhook", "slack", "alertmanager", "log"]
    url: str | None = Field(default=None, description="alertmanager: its base URL (…:9093)")
    secret: str | None = Field(default=None, description="webhook: HMAC key (prefer secret_env)")
    secret_env: str | None = Field(default=None, description="webhook: environment variable with the key")
    timeout: Duration = timedelta(seconds=10)
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _needs_url(self) -> ReceiverConfig:
        if self.kind != "log" and not self.url:
            raise ValueError(f"receiver {self.name!r}: a {self.kind} receiver needs a url")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"receiver {self.name!r}: url must start with http:// or https://")
        if self.secret is not None and self.secret_env is not None:
            raise ValueError(f"receiver {self.name!r}: set secret or secret_env, not both")
        return self

    def resolved_secret(self) -> bytes | None:
        return _secret(f"receiver {self.name!r}", self.secret, self.secret_env)


class RetrainingPolicy(Strict):
    """When alerts of a model trigger its retraining endpoint."""

    model: str
    url: str = Field(pattern=r"^https?://")
    on: list[str] = Field(min_length=1, description="rule names whose firing triggers retraining")
    min_interval: Duration = Field(default=timedelta(hours=24), description="between two triggers")
    max_per_day: int = Field(default=1, ge=1, description="triggers in any 24 hours")
    secret: str | None = None
    secret_env: str | None = None
    timeout: Duration = timedelta(seconds=10)

    def resolved_secret(self) -> bytes | None:
        return _secret(f"retraining policy of model {self.model!r}", self.secret, self.secret_env)


class VersionWebhook(Strict):
    """Where a model's version-comparison verdicts go (monitor.evaluation.comparison): a signed POST
    once per change of a candidate's verdict to one of `on`."""

    model: str
    url: str = Field(pattern=r"^https?://")
    on: list[VerdictName] = Field(
        default_factory=lambda: list[VerdictName](["rollback", "promote"]),
        min_length=1,
        description="verdicts announced",
    )
    secret: str | None = None
    secret_env: str | None = None
    timeout: Duration = timedelta(seconds=10)

    def resolved_secret(self) -> bytes | None:
        return _secret(f"version webhook of model {self.model!r}", self.secret, self.secret_env)


class DeliveryConfig(Strict):
    backoff_initial: Duration = timedelta(seconds=1)
    backoff_max: Duration = timedelta(minutes=5)
    give_up_after: Duration = Field(default=timedelta(days=3), description="drop undeliverable after this")
    max_outbox: int = Field(default=10_000, ge=10, description="pending deliveries kept; oldest dropped")
    flush_timeout: Duration = Field(default=timedelta(seconds=5), description="delivery time at shutdown")
    check_interval: Duration = Field(default=timedelta(seconds=30), description="staleness checks")


# The default rule set (alerts/defaults.py), applied unless `default_rules: false`.
DEFAULT_RULES: list[RuleConfig] = [RuleConfig.model_validate(d) for d in DEFAULT_RULE_SPECS]


class AlertsConfig(Strict):
    """Alert rules, receivers and retraining webhooks (alerts/)."""

    enabled: bool = True
    default_rules: bool = Field(default=True, description="include the default rule set")
    rules: list[RuleConfig] = Field(default_factory=list)
    receivers: list[ReceiverConfig] = Field(default_factory=list)
    retraining: list[RetrainingPolicy] = Field(default_factory=list)
    versions: list[VersionWebhook] = Field(
        default_factory=list, description="rollback/promote webhooks of models with `comparison`"
    )
    repeat_interval: Duration = Field(default=timedelta(hours=4), description="re-notify a firing alert")
    cooldown: Duration = Field(default=timedelta(minutes=30), description="after resolving, before refiring")
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)

    @model_validator(mode="after")
    def _references(self) -> AlertsConfig:
        for kind, names in (("rule", [r.name for r in self.rules]), ("receiver", self.receiver_names)):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} names {dupes}")
        rules = {r.name for r in self.effective_rules()}
        for rule in self.rules:
            unknown = sorted(set(rule.receivers or []) - set(self.receiver_names))
            if unknown:
                raise ValueError(f"rule {rule.name!r}: unknown receivers {unknown}")
        for policy in self.retraining:
            unknown = sorted(set(policy.on) - rules)
            if unknown:
                raise ValueError(f"retraining policy of model {policy.model!r}: unknown rules {unknown}")
        return self

    @property
    def receiver_names(self) -> list[str]:
        return [r.name for r in self.receivers]

    @property
    def active(self) -> bool:
        """Whether `driftline run` builds the alert engine: something to evaluate or deliver."""
        return self.enabled and bool(self.rules or self.receivers or self.retraining or self.versions)

    def effective_rules(self) -> list[RuleConfig]:
        own = {r.name for r in self.rules}
        defaults = [r for r in DEFAULT_RULES if r.name not in own] if self.default_rules else []
        return defaults + list(self.rules)


def _secret(where: str, inline: str | None, env: str | None) -> bytes | None:
    from monitor.errors import ConfigError

    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{where}: environment variable {env} (secret_env) is not set")
        return value.encode()
    return None if inline is None else inline.encode()
