"""The configuration tree: one YAML file, validated by pydantic with extra="forbid".

A misspelled key fails at start-up with the path of the key and what was expected,
instead of being silently ignored.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from monitor.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> Any:
    """Accept '90s', '15m', '1h', '7d' (and anything pydantic accepts as a timedelta)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

DriftMethod = Literal["auto", "wasserstein", "jensen_shannon", "psi", "ks", "chi_square", "hellinger"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    segments: list[str] = Field(default_factory=list, description="segment values allowed as labels")
    drift: DriftThresholds = Field(default_factory=DriftThresholds)

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


class SourcesConfig(Strict):
    """Where events come from. Filled in by the pipeline and Kafka work."""

    kind: Literal["none", "file", "directory", "stdin", "kafka"] = "none"
    paths: list[Path] = Field(default_factory=list)


class SinksConfig(Strict):
    """Where results go (Prometheus, Elasticsearch)."""

    prometheus_port: int | None = Field(default=None, ge=0, le=65535)


class StateConfig(Strict):
    """Where durable state lives (SQLite by default)."""

    url: str = "sqlite:///driftline-state.db"


class AlertsConfig(Strict):
    """Alert rules and receivers."""

    rules: list[dict[str, Any]] = Field(default_factory=list)


class DriftlineConfig(Strict):
    models: list[ModelConfig] = Field(min_length=1)
    baselines: BaselineStoreConfig = Field(default_factory=BaselineStoreConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    sinks: SinksConfig = Field(default_factory=SinksConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

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


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelled?)"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "config") -> DriftlineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return DriftlineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source} is invalid:\n{_format_errors(err)}") from None


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
    config = parse_config(data, source=str(path))
    base = path.parent
    if not config.baselines.path.is_absolute():
        baselines = config.baselines.model_copy(update={"path": base / config.baselines.path})
        config = config.model_copy(update={"baselines": baselines})
    return config
