from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import load_config, parse_config
from monitor.config_types import DURATION_FORMAT
from monitor.errors import ConfigError

MINIMAL = {
    "models": [{"name": "churn", "task": "classification", "features": [{"name": "age", "kind": "numeric"}]}]
}

RULE = {"name": "stale", "signal": "staleness", "threshold": "2h"}


def test_minimal_config_gets_defaults() -> None:
    cfg = parse_config(MINIMAL)
    model = cfg.model("churn")
    assert model.window == timedelta(hours=1)
    assert model.outcome_ttl == timedelta(days=7)
    assert model.drift.wasserstein == 0.1 and model.drift.jensen_shannon == 0.1


@pytest.mark.parametrize(
    ("text", "expected"), [("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), (30, 30)]
)
def test_durations(text: object, expected: int) -> None:
    data = {"models": [{**MINIMAL["models"][0], "window": text}]}
    assert parse_config(data).models[0].window == timedelta(seconds=expected)


def test_max_future_bounds_event_time_ahead_of_the_clock() -> None:
    assert parse_config(MINIMAL).sources.max_future == timedelta(minutes=5)
    assert parse_config({**MINIMAL, "sources": {"max_future": "1h"}}).sources.max_future == timedelta(hours=1)
    with pytest.raises(ConfigError, match=r"sources\.max_future: Input should be greater than or equal to 0"):
        parse_config({**MINIMAL, "sources": {"max_future": -60}})


def test_misspelled_key_is_named() -> None:
    data = {"models": [{**MINIMAL["models"][0], "windw": "1h"}]}
    with pytest.raises(ConfigError, match=r"models\.0\.windw: unknown key"):
        parse_config(data)


def test_wrong_value_names_key_and_expectation() -> None:
    data = {"models": [{**MINIMAL["models"][0], "task": "ranking"}]}
    with pytest.raises(
        ConfigError, match=r"models\.0\.task: Input should be 'classification' or 'regression'"
    ):
        parse_config(data)


def test_duplicate_features_rejected() -> None:
    features = [{"name": "age", "kind": "numeric"}, {"name": "age", "kind": "categorical"}]
    with pytest.raises(ConfigError, match="duplicate feature names"):
        parse_config({"models": [{"name": "m", "task": "regression", "features": features}]})


def test_feature_cannot_shadow_target() -> None:
    data = {"models": [{**MINIMAL["models"][0], "target": "age"}]}
    with pytest.raises(ConfigError, match="clash"):
        parse_config(data)


def test_unknown_model_lists_known() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'fraud'.*churn"):
        parse_config(MINIMAL).model("fraud")


def test_load_resolves_relative_paths_and_reports_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n  - name: churn\n    task: regression\n    features: [{name: x, kind: numeric}]\n"
    )
    assert load_config(path).baselines.path == tmp_path / "baselines"
    path.write_text("models: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")


def test_the_default_state_store_is_rocksdb_unless_an_older_default_sqlite_file_is_there(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.yaml"
    models = "models:\n  - name: churn\n    task: regression\n    features: [{name: x, kind: numeric}]\n"
    path.write_text(models)
    assert load_config(path).state.url == f"rocksdb:///{tmp_path / 'driftline-state'}"
    # A store the earlier default (SQLite) made goes on being used, so an upgrade keeps its state...
    (tmp_path / "driftline-state.db").write_bytes(b"")
    assert load_config(path).state.url == f"sqlite:///{tmp_path / 'driftline-state.db'}"
    # ...unless the RocksDB one exists too, or the config names a store.
    (tmp_path / "driftline-state").mkdir()
    assert load_config(path).state.url == f"rocksdb:///{tmp_path / 'driftline-state'}"
    (tmp_path / "driftline-state").rmdir()
    path.write_text(models + "state: {url: 'rocksdb:///elsewhere'}\n")
    assert load_config(path).state.url == f"rocksdb:///{tmp_path / 'elsewhere'}"


def test_result_retention_defaults_to_history_and_may_not_undercut_it() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.evaluation.stored_windows == cfg.evaluation.history == 168
    assert cfg.evaluation.retention.max_age is None
    kept = parse_config(
        {**MINIMAL, "evaluation": {"history": 24, "retention": {"windows": 720, "max_age": "30d"}}}
    )
    assert kept.evaluation.stored_windows == 720 and kept.evaluation.retention.max_age == timedelta(days=30)
    with pytest.raises(ConfigError, match=r"retention.windows \(10\) is below history \(24\)"):
        parse_config({**MINIMAL, "evaluation": {"history": 24, "retention": {"windows": 10}}})


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("models", 0, "window"), "1 hour"),
        (("alerts", "rules", 0, "for"), "2 hours"),
        (("alerts", "cooldown"), "soon"),
    ],
)
def test_a_bad_duration_says_what_is_accepted(where: tuple, value: str) -> None:
    data = {**MINIMAL, "models": [dict(MINIMAL["models"][0])], "alerts": {"rules": [dict(RULE)]}}
    node: Any = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    lines = str(raised.value).splitlines()[1:]
    path = ".".join(str(p) for p in where)
    assert lines == [f"  {path}: {value!r} is not a duration: write {DURATION_FORMAT}"]
    assert "e.g. 500ms, 90s, 15m, 1h, 7d" in DURATION_FORMAT


def test_other_timedelta_spellings_still_pass() -> None:
    for text, seconds in (("PT1H", 3600), ("01:30:00", 5400), ("500ms", 0.5), (90, 90)):
        data = {"models": [{**MINIMAL["models"][0], "window": text}]}
        assert parse_config(data).models[0].window == timedelta(seconds=seconds)


def test_the_same_mistake_in_every_feature_is_one_error() -> None:
    features = [{"name": f"f{i}", "kind": "numerical"} for i in range(30)]
    features[3]["kind"] = "numeric"
    model = {"name": "m", "task": "classification", "features": features, "windw": "1h"}
    with pytest.raises(ConfigError) as raised:
        parse_config({"models": [model]})
    lines = str(raised.value).splitlines()[1:]
    assert len(lines) == 2, lines  # the kind (29 features), the misspelled key
    assert lines[0].startswith(
        "  models.0.features.*.kind: Input should be 'numeric' or 'categorical' (got 'numerical') "
        "[29 entries: f0, f1, f2, f4, f5"
    )
    assert lines[0].endswith("and 19 more]")
    assert lines[1] == "  models.0.windw: unknown key (misspelled?)"


def test_different_mistakes_stay_apart() -> None:
    features = [{"name": "a", "kind": "numerical"}, {"name": "b", "kind": "numeric", "threshold": -1}]
    with pytest.raises(ConfigError) as raised:
        parse_config({"models": [{"name": "m", "task": "regression", "features": features}]})
    assert str(raised.value).splitlines()[1:] == [
        "  models.0.features.0.kind: Input should be 'numeric' or 'categorical' (got 'numerical')",
        "  models.0.features.1.threshold: Input should be greater than 0",
    ]


def test_the_readme_example_config_is_valid_with_alerts_on() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme[readme.index("A config (every key") :]
    text = example[example.index("```yaml\n") + 8 : example.index("```\n", example.index("```yaml"))]
    cfg = parse_config(yaml.safe_load(text))
    assert cfg.alerts.active and [r.kind for r in cfg.alerts.receivers] == ["log"]
    assert {r.name for r in cfg.alerts.effective_rules()} >= {
        "feature_drift",
        "dataset_drift",
        "concept_drift",
    }


def test_comparison_is_off_by_default_and_validated() -> None:
    assert parse_config(MINIMAL).model("churn").comparison is None
    section = {"baseline": "v1", "candidates": ["v2"]}
    comparison = (
        parse_config({"models": [{**MINIMAL["models"][0], "comparison": section}]}).models[0].comparison
    )
    assert comparison is not None
    assert (comparison.mode, comparison.alpha_rollback, comparison.min_pairs) == ("canary", 0.05, 200)
    shadow = {**MINIMAL["models"][0], "comparison": {**section, "mode": "shadow"}}
    assert parse_config({"models": [shadow]}).models[0].comparison.mode == "shadow"  # type: ignore[union-attr]
    for bad, message in (
        ({**section, "mode": "pairs"}, r"comparison\.mode"),
        ({**section, "candidates": ["v1"]}, "must not hold the baseline version 'v1'"),
        ({**section, "candidates": []}, r"comparison\.candidates"),
        ({**section, "alpha_rollback": 1.5}, r"comparison\.alpha_rollback"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_config({"models": [{**MINIMAL["models"][0], "comparison": bad}]})
