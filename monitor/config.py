"""The configuration tree: one YAML file, validated by pydantic with extra="forbid".

A misspelled key fails at start-up with the path of the key and what was expected,
instead of being silently ignored.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import util as importlib_util
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from alerts.config import AlertsConfig  # alert rules, receivers, retraining (alerts/)
from monitor.api.settings import ApiConfig
from monitor.config_types import Duration, Strict
from monitor.errors import ConfigError
from monitor.sinks.elasticsearch.config import ElasticsearchSinkConfig

DriftMethod = Literal["auto", "wasserstein", "jensen_shannon", "psi", "ks", "chi_square", "hellinger"]


class FeatureConfig(Strict):
    name: str = Field(min_length=1)
    kind: Literal["numeric", "categorical"]
    method: DriftMethod = "auto"
    threshold: float | None = Field(default=None, gt=0, description="overrides the method's default")


class DriftThresholds(Strict):
    """Decision thresholds. Defaults follow Evidently's for the same method."""

    wasserstein: float = Field(default=0.1, gt=0)
    jensen_shannon: float = Field(default=0.1, gt=0, le=1)
    psi: float = Field(default=0.1, gt=0)
    hellinger: float = Field(default=0.1, gt=0, le=1)
    ks_pvalue: float = Field(default=0.05, gt=0, lt=1)
    chi_square_pvalue: float = Field(default=0.05, gt=0, lt=1)
    drift_share: float = Field(
        default=0.5, gt=0, le=1, description="share of drifted features for dataset drift"
    )
    small_sample: int = Field(
        default=1000, ge=1, description="reference rows at or below which 'auto' uses p-value tests"
    )


class PerformanceConfig(Strict):
    """When a window's performance counts as degraded against the baseline's reference."""

    max_accuracy_drop: float = Field(default=0.05, gt=0, le=1, description="classification, absolute")
    max_mae_increase: float = Field(default=0.2, gt=0, description="regression, relative to reference MAE")
    min_pairs: int = Field(default=100, ge=1, description="joined pairs needed before judging a window")
    positive_label: str = "1"


class ConceptDriftConfig(Strict):
    """The error-stream detector (see monitor.core.detectors)."""

    enabled: bool = True
    min_increase: float | None = Field(
        default=None,
        gt=0,
        description="degradation to detect: absolute error-rate increase (classification, default 0.05) "
        "or relative MAE increase (regression, default 0.2)",
    )
    false_alarm_prob: float = Field(
        default=0.01, gt=0, lt=1, description="chance of any alarm within `horizon`"
    )
    horizon: int = Field(
        default=1_000_000, ge=1000, description="stationary events the false-alarm bound covers"
    )
    warmup: int = Field(
        default=5000,
        ge=100,
        description="joined pairs that estimate the reference error when the baseline has no reference "
        "performance (the estimate's upper confidence bound is used)",
    )
    rearm_pairs: int | None = Field(
        default=None,
        ge=1,
        description="joined pairs without an alarm that close a concept-drift episode (default: four times "
        "the detector's expected detection delay)",
    )
    bucket: Duration = Field(
        default=timedelta(minutes=1), description="outcome time summarised per bucket of the error stream"
    )
    lateness: Duration = Field(
        default=timedelta(minutes=2),
        description="how far the outcome watermark must pass a bucket's end before the detector reads it; "
        "pairs that come later count in the next bucket",
    )

    @model_validator(mode="after")
    def _whole_buckets(self) -> ConceptDriftConfig:
        if self.bucket < timedelta(seconds=1) or self.bucket.total_seconds() % 1:
            raise ValueError(f"concept_drift.bucket must be a whole number of seconds, got {self.bucket}")
        return self


class DomainClassifierConfig(Strict):
    """The domain classifier (monitor.core.multivariate.domain_classifier): opt-in, since each
    window's evaluation fits a few small tree ensembles on the window's and the reference's samples."""

    enabled: bool = False
    alpha: float = Field(default=0.01, gt=0, lt=1, description="permutation test level")
    min_auc: float = Field(default=0.55, ge=0.5, lt=1, description="ROC AUC below which nothing is drift")
    permutations: int = Field(default=500, ge=10)


class MultivariateConfig(Strict):
    """Multivariate drift (monitor.core.multivariate): changes in how features move together.

    Fitted at baseline build and stored in the baseline, so a change here takes effect with the
    next `driftline baseline build`."""

    enabled: bool | None = Field(
        default=None,
        description="PCA reconstruction error per window; default: on when the model has at least two "
        "numeric features (the linear structure PCA keeps needs two columns to exist)",
    )
    variance_share: float = Field(
        default=0.65, gt=0, lt=1, description="reference variance the kept components explain"
    )
    chunk_size: int | None = Field(
        default=None,
        ge=10,
        description="reference rows per chunk for the threshold (default n/20, at least 50)",
    )
    k: float = Field(
        default=3.0, gt=0, description="band half-width in standard deviations of a window's mean error"
    )
    min_relative_change: float = Field(
        default=0.02, ge=0, description="band half-width at least this share of the reference mean error"
    )
    domain_classifier: DomainClassifierConfig = Field(default_factory=DomainClassifierConfig)

    def pca_enabled(self, n_numeric: int) -> bool:
        return self.enabled if self.enabled is not None else n_numeric >= 2


class SegmentsConfig(Strict):
    """Drift per segment (monitor.core.segments): the reference's `column` holds each row's segment,
    live messages carry it in their `"segment"` field."""

    column: str = Field(min_length=1, description="reference column holding each row's segment")
    max_segments: int = Field(
        default=20, ge=1, le=200, description="most frequent reference segments kept; the rest are __other__"
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="error rate over features x segments")
    method: Literal["benjamini_hochberg", "holm"] = "benjamini_hochberg"
    min_rows: int = Field(default=30, ge=1, description="rows on each side before a pair is tested")


class ComparisonConfig(Strict):
    """Version comparison (monitor.evaluation.comparison): each candidate version against the
    baseline version, with a verdict (`promote`, `hold`, `rollback`) from the outcomes joined since
    the comparison started. `canary`: the versions serve different rows, assigned at random.
    `shadow`: each candidate logs its prediction under the prediction id of the baseline version's
    for the same request (monitor.pipeline.monitor pairs them)."""

    baseline: str = Field(min_length=1, description="the version serving now (A)")
    candidates: list[str] = Field(min_length=1, description="versions compared with it (B)")
    mode: Literal["canary", "shadow"] = "canary"
    alpha_rollback: float = Field(
        default=0.05, gt=0, lt=1, description="chance of rolling back an equal version"
    )
    alpha_promote: float = Field(default=0.05, gt=0, lt=1, description="chance of promoting a worse version")
    promote_margin: float = Field(
        default=0.01, ge=0, description="worse by at most this still promotes (accuracy points; share of MAE)"
    )
    rollback_margin: float = Field(
        default=0.0, ge=0, description="rolled back only if worse by more than this"
    )
    min_pairs: int = Field(default=200, ge=1, description="joined outcomes per version before any verdict")

    @model_validator(mode="after")
    def _versions(self) -> ComparisonConfig:
        if self.baseline in self.candidates or len(set(self.candidates)) != len(self.candidates):
            raise ValueError(
                f"comparison.candidates {self.candidates} must be distinct and must not hold the "
                f"baseline version {self.baseline!r}"
            )
        return self


class ModelConfig(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    task: Literal["classification", "regression"]
    features: list[FeatureConfig] = Field(min_length=1)
    prediction: str = "prediction"
    score: str | None = None
    target: str | None = None
    window: Duration = timedelta(hours=1)
    allowed_lateness: Duration = timedelta(minutes=5)
    outcome_ttl: Duration = timedelta(days=7)
    dedup_horizon: Duration = Field(
        default=timedelta(hours=6),
        description="how long after its window ends a joined prediction id is remembered, so that a "
        "second outcome for it counts as a duplicate (later: unknown_prediction); every id is remembered "
        "until outcome_ttl + allowed_lateness + this",
    )
    read_ahead: Duration = Field(
        default=timedelta(days=1),
        description="how far (event time) one input may be read ahead of the other with exact join "
        "counts; predictions of a model without outcomes expire this long after outcome_ttl",
    )
    segments: SegmentsConfig | None = Field(
        default=None, description="drift, data quality and performance per segment (null: off)"
    )
    comparison: ComparisonConfig | None = Field(
        default=None, description="version comparison: candidates against a baseline version (null: off)"
    )
    window_sample: int = Field(default=2000, ge=0, le=100_000, description="rows kept per window for reports")
    drift: DriftThresholds = Field(default_factory=DriftThresholds)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    concept_drift: ConceptDriftConfig = Field(default_factory=ConceptDriftConfig)
    multivariate: MultivariateConfig = Field(default_factory=MultivariateConfig)

    @model_validator(mode="after")
    def _unique_features(self) -> ModelConfig:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model {self.name!r}: duplicate feature names {dupes}")
        reserved = {c for c in (self.prediction, self.score, self.target) if c is not None}
        clash = sorted(reserved & set(names))
        if clash:
            raise ValueError(f"model {self.name!r}: features {clash} clash with prediction/score/target")
        return self

    def feature(self, name: str) -> FeatureConfig:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)


class BaselineStoreConfig(Strict):
    path: Path = Path("baselines")
    reservoir_size: int = Field(default=5000, ge=100, le=1_000_000)
    bins: int = Field(default=100, ge=10, le=10_000)
    max_categories: int = Field(default=1000, ge=2, le=100_000)
    seed: int = 0


class InputConfig(Strict):
    """One embedded event source."""

    kind: Literal["file", "directory", "stdin"]
    path: Path | None = None
    topic: Literal["predictions", "outcomes", "mixed"] = Field(
        default="mixed", description="mixed: a message with a 'features' key is a prediction, else an outcome"
    )
    pattern: str = Field(default="*.jsonl", description="directory: which files to read")
    follow: bool = Field(default=True, description="directory: keep waiting for new lines and files")

    @model_validator(mode="after")
    def _needs_path(self) -> InputConfig:
        if self.kind != "stdin" and self.path is None:
            raise ValueError(f"a {self.kind} input needs a path")
        return self


KafkaClientName = Literal["confluent", "kafka-python"]


def _installed_kafka_client() -> KafkaClientName:
    # find_spec, not import: the config layer loads no client library (tests/unit/test_layers.py)
    return "confluent" if importlib_util.find_spec("confluent_kafka") is not None else "kafka-python"


class KafkaConfig(Strict):
    """Kafka input: one consumer group over the predictions and outcomes topics.

    Both topics must have the same number of partitions and be keyed by prediction_id, so a
    prediction and its outcome meet in the same partition (and the same instance)."""

    bootstrap_servers: list[str] = Field(min_length=1)
    predictions_topic: str = "predictions"
    outcomes_topic: str = "outcomes"
    dead_letter_topic: str | None = Field(default="driftline-dead-letters", description="null: file only")
    group_id: str = "driftline"
    max_poll_records: int = Field(default=5000, ge=1)
    poll_timeout: Duration = timedelta(milliseconds=500)
    checkpoint_interval: Duration = Field(default=timedelta(seconds=5), description="state save, then commit")
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    heartbeat_interval_ms: int = Field(default=1000, ge=100)
    max_poll_interval_ms: int = Field(default=300_000, ge=1000)
    reconnect_backoff_max_ms: int = Field(default=10_000, ge=100)
    stop_when_idle: Duration | None = Field(default=None, description="exit after this long without records")
    client: Literal["confluent", "kafka-python"] = Field(
        default_factory=lambda: (
            "confluent" if importlib_util.find_spec("confluent_kafka") else "kafka-python"
        ),
        description="the Kafka client library: confluent (librdkafka; the default when confluent-kafka is "
        "installed) or kafka-python",
    )
    client_options: dict[str, Any] = Field(
        default_factory=dict,
        description="passed to the client: librdkafka property names for confluent (security.protocol, "
        "sasl.username, ssl.ca.location, ...; the common kafka-python names are translated), kafka-python "
        "keyword names for kafka-python (security_protocol, sasl_plain_username, ssl_cafile, ...)",
    )
    max_read_ahead: Duration | None = Field(
        default=timedelta(hours=1),
        description="hold a partition's predictions (outcomes) back while their event time is this far "
        "ahead of its outcomes' (predictions') and those are still to be read (null: never)",
    )


class SourcesConfig(Strict):
    """Where events come from."""

    inputs: list[InputConfig] = Field(default_factory=list)
    kafka: KafkaConfig | None = None
    batch_size: int = Field(default=10_000, ge=1, le=1_000_000)
    poll_interval: Duration = timedelta(milliseconds=500)
    max_message_bytes: int = Field(default=1_000_000, ge=1024)
    max_future: Duration = Field(
        default=timedelta(minutes=5),
        ge=timedelta(0),
        description="events timestamped further ahead of the service's clock are dead-lettered "
        "(future_timestamp): one message dated years ahead must not move a stream's watermark",
    )
    dead_letters: Path = Path("dead-letters.jsonl")
    checkpoint_interval: Duration = Field(
        default=timedelta(seconds=5), description="embedded sources: how often state and offsets are saved"
    )


class SinksConfig(Strict):
    """Where results go."""

    elasticsearch: ElasticsearchSinkConfig | None = Field(
        default=None, description="window results and alert events to Elasticsearch (for Kibana)"
    )


class RetentionConfig(Strict):
    """How long evaluated windows stay in the state store (for restarts and `driftline windows`)."""

    windows: int | None = Field(
        default=None, ge=1, description="stored windows per model version; default and minimum: history"
    )
    max_age: Duration | None = Field(
        default=None, description="also delete stored windows that ended longer ago than this"
    )


class EvaluationConfig(Strict):
    interval: Duration = Field(default=timedelta(seconds=10), description="periodic re-evaluation tick")
    idle_close: Duration | None = Field(
        default=timedelta(minutes=5),
        description="once no prediction of a model version has come (in a partition) for this long, "
        "close its windows whose end plus allowed_lateness has passed on the service's clock: a quiet "
        "source does not keep its last window open for ever (null: only event time closes windows)",
    )
    history: int = Field(default=168, ge=1, description="windows of results kept per model version")
    retention: RetentionConfig = Field(default_factory=RetentionConfig)

    @model_validator(mode="after")
    def _retention_covers_history(self) -> EvaluationConfig:
        kept = self.retention.windows
        if kept is not None and kept < self.history:
            raise ValueError(
                f"retention.windows ({kept}) is below history ({self.history}): a restart would lose "
                "windows the API shows"
            )
        return self

    @property
    def stored_windows(self) -> int:
        """Evaluated windows kept in the state store per model version."""
        return self.retention.windows or self.history


DEFAULT_STATE = "driftline-state"  # RocksDB's folder, beside the config
LEGACY_STATE = "driftline-state.db"  # the default before RocksDB: an SQLite file


class StateConfig(Strict):
    """Where durable state lives: RocksDB or SQLite (embedded, one process) or PostgreSQL (shared)."""

    url: str = Field(
        default=f"rocksdb:///{DEFAULT_STATE}",
        description="rocksdb:///folder (the default: a checkpoint writes what changed, appended), "
        "sqlite:///file.db, or postgresql://user@host:port/db to share state between instances; "
        "relative paths are taken from the config's folder",
    )
    join_cache: int = Field(
        default=100_000,
        ge=0,
        description="recent predictions per partition and model kept in memory after a checkpoint "
        "(outcomes that come soon are joined without a store look-up); the rest wait on disk",
    )


class DriftlineConfig(Strict):
    models: list[ModelConfig] = Field(min_length=1)
    baselines: BaselineStoreConfig = Field(default_factory=BaselineStoreConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    sinks: SinksConfig = Field(default_factory=SinksConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)  # HTTP API: keys, limits (monitor/api)

    @model_validator(mode="after")
    def _unique_models(self) -> DriftlineConfig:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate model names {dupes}")
        return self

    def model(self, name: str) -> ModelConfig:
        for m in self.models:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.models)
        raise ConfigError(f"unknown model {name!r}; the config defines: {known}")


def _format_errors(err: ValidationError, data: Any) -> str:
    """One line per problem. The same mistake in several items of a list (`kind: numerical` in
    every feature) is one line naming the items, not one line per item."""
    groups: dict[tuple[tuple[Any, ...], str], list[tuple[tuple[Any, ...], str, str | None]]] = {}
    for e in err.errors():
        loc = tuple(e["loc"])
        msg = "unknown key (misspelled?)" if e["type"] == "extra_forbidden" else e["msg"]
        msg = msg.removeprefix("Value error, ")
        got = repr(e["input"]) if e["type"] in ("literal_error", "enum") else None
        last = max((i for i, p in enumerate(loc) if isinstance(p, int)), default=None)
        pattern = loc if last is None else (*loc[:last], "*", *loc[last + 1 :])
        item = "" if last is None else _item_name(data, loc[: last + 1])
        groups.setdefault((pattern, msg), []).append((loc, item, got))
    lines = []
    for (pattern, msg), found in groups.items():
        given = list(dict.fromkeys(g for _, _, g in found if g is not None))
        text = f"{msg} (got {', '.join(given)})" if given else msg
        path = ".".join(str(p) for p in (pattern if len(found) > 1 else found[0][0])) or "(top level)"
        if len(found) > 1:
            names = [n for _, n, _ in found]
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            text += f" [{len(found)} entries: {shown}]"
        lines.append(f"  {path}: {text}")
    return "\n".join(lines)


def _item_name(data: Any, loc: tuple[Any, ...]) -> str:
    """The list item at `loc` of the raw config: its `name` if it has one, else its index."""
    node = data
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return str(loc[-1])
    name = node.get("name") if isinstance(node, dict) else None
    return str(name) if isinstance(name, str) else str(loc[-1])


def parse_config(data: Any, source: str = "config") -> DriftlineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return DriftlineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source} is invalid:\n{_format_errors(err, data)}") from None


def load_config(path: str | Path) -> DriftlineConfig:
    """Read and validate a YAML config. Relative paths inside it resolve against its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    return resolve_paths(parse_config(data, source=str(path)), path.parent)


def resolve_paths(config: DriftlineConfig, base: Path) -> DriftlineConfig:
    """Make the config's relative paths relative to `base` (the config file's folder)."""

    def under(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    inputs = [i.model_copy(update={"path": under(i.path)}) if i.path else i for i in config.sources.inputs]
    sources = config.sources.model_copy(
        update={"inputs": inputs, "dead_letters": under(config.sources.dead_letters)}
    )
    baselines = config.baselines.model_copy(update={"path": under(config.baselines.path)})
    state = config.state
    if (
        "url" not in state.model_fields_set
        and (base / LEGACY_STATE).is_file()
        and not (base / DEFAULT_STATE).exists()
    ):
        # The state of a driftline from before RocksDB was the default: go on with it.
        state = state.model_copy(update={"url": f"sqlite:///{LEGACY_STATE}"})
    for scheme in ("sqlite:///", "rocksdb:///"):
        if state.url.startswith(scheme) and not state.url.startswith(f"{scheme}/"):
            state = state.model_copy(update={"url": f"{scheme}{under(Path(state.url[len(scheme) :]))}"})
    sinks = config.sinks
    if sinks.elasticsearch is not None:
        es = sinks.elasticsearch
        es = es.model_copy(
            update={
                "spill_dir": under(es.spill_dir),
                "ca_certs": None if es.ca_certs is None else under(es.ca_certs),
            }
        )
        sinks = sinks.model_copy(update={"elasticsearch": es})
    return config.model_copy(
        update={"sources": sources, "baselines": baselines, "state": state, "sinks": sinks}
    )
