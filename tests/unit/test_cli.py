import itertools
import re
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

from monitor.cli import app

runner = CliRunner()


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    config = {
        "models": [
            {
                "name": "churn",
                "task": "classification",
                "features": [{"name": "age", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
                "target": "churned",
            }
        ]
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "age": rng.normal(40, 10, 300),
            "plan": rng.choice(["basic", "pro"], 300),
            "prediction": rng.integers(0, 2, 300),
            "churned": rng.integers(0, 2, 300),
        }
    ).to_csv(tmp_path / "train.csv", index=False)
    return tmp_path / "c.yaml", tmp_path / "train.csv"


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def test_build_then_show(tmp_path: Path) -> None:
    config, data = _setup(tmp_path)
    built = runner.invoke(
        app, ["baseline", "build", "-c", str(config), "-m", "churn", "-d", str(data), "-v", "2"]
    )
    assert built.exit_code == 0, built.output
    baseline_id = built.stdout.strip().splitlines()[-1]
    assert (tmp_path / "baselines" / "churn" / "2" / f"{baseline_id}.json").is_file()
    shown = runner.invoke(app, ["baseline", "show", "-c", str(config), "-m", "churn", "-v", "2"])
    assert shown.exit_code == 0, shown.output
    for text in (baseline_id, "age", "plan", "numeric", "categorical", "accuracy", "300 rows"):
        assert text in shown.stdout
    # No score column: nothing to estimate performance from without outcomes, and both say so.
    assert "no performance estimate without labels: the classifier's rows have no score" in flat(built.output)
    assert "performance estimate without outcomes: none" in flat(shown.output)


def test_build_fits_the_estimator_on_held_out_scored_rows(tmp_path: Path) -> None:
    config, data = _setup(tmp_path)
    settings = yaml.safe_load(config.read_text())
    settings["models"][0]["score"] = "score"
    config.write_text(yaml.safe_dump(settings))
    frame = pd.read_csv(data).assign(score=np.random.default_rng(1).random(300))
    frame.to_csv(data, index=False)
    held = tmp_path / "held-out.csv"
    frame.iloc[:200].to_csv(held, index=False)
    args = ["baseline", "build", "-c", str(config), "-m", "churn", "-d", str(data), "-p", str(held)]
    built = runner.invoke(app, args)
    assert built.exit_code == 0, built.output
    assert "performance estimate without labels: CBPE on 200 scored rows" in flat(built.output)
    shown = runner.invoke(app, ["baseline", "show", "-c", str(config), "-m", "churn"])
    assert "without outcomes: CBPE (calibrated scores), fitted on 200 rows" in flat(shown.output)


def test_build_warns_about_in_sample_performance_and_measures_held_out_rows(tmp_path: Path) -> None:
    config, data = _setup(tmp_path)
    in_sample = runner.invoke(app, ["baseline", "build", "-c", str(config), "-m", "churn", "-d", str(data)])
    assert in_sample.exit_code == 0, in_sample.output
    assert "warning:" in in_sample.output and "in-sample" in in_sample.output
    assert "--performance-data" in in_sample.output
    held = tmp_path / "held-out.csv"
    pd.read_csv(data).iloc[:120].to_csv(held, index=False)
    built = runner.invoke(
        app,
        [
            "baseline",
            "build",
            "-c",
            str(config),
            "-m",
            "churn",
            "-d",
            str(data),
            "--performance-data",
            str(held),
        ],
    )
    assert built.exit_code == 0, built.output
    assert "warning" not in built.output
    shown = runner.invoke(app, ["baseline", "show", "-c", str(config), "-m", "churn"])
    assert "reference performance from held-out data: 120 rows of held-out.csv" in shown.stdout


def test_a_missing_target_fails_unless_no_target(tmp_path: Path) -> None:
    config, data = _setup(tmp_path)
    pd.read_csv(data).drop(columns=["churned"]).to_csv(data, index=False)
    refused = runner.invoke(app, ["baseline", "build", "-c", str(config), "-m", "churn", "-d", str(data)])
    assert refused.exit_code == 2 and "names target 'churned'" in refused.output
    waived = runner.invoke(
        app, ["baseline", "build", "-c", str(config), "-m", "churn", "-d", str(data), "--no-target"]
    )
    assert waived.exit_code == 0, waived.output
    assert "no reference performance" in waived.output


def test_errors_are_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    config, data = _setup(tmp_path)
    data.write_text("age,plan\n1,a\n")
    bad = runner.invoke(app, ["baseline", "build", "-c", str(config), "-m", "churn", "-d", str(data)])
    assert bad.exit_code == 2
    assert "lacks the prediction column" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "baselines").exists()  # nothing half-written
    unknown = runner.invoke(app, ["baseline", "show", "-c", str(config), "-m", "fraud"])
    assert unknown.exit_code == 2 and "unknown model 'fraud'" in unknown.output
    config.write_text("models: [{name: churn, task: churn}]")
    invalid = runner.invoke(app, ["baseline", "show", "-c", str(config), "-m", "churn"])
    assert invalid.exit_code == 2 and "models.0.task" in invalid.output


def test_help_explains_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("baseline", "run", "demo"):
        assert command in result.stdout


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


WIDTH = 100


@pytest.mark.parametrize("command", _commands(typer.main.get_command(app)), ids=" ".join)  # type: ignore[arg-type]
def test_help_is_reflowed_and_switches_have_no_type(command: tuple[str, ...]) -> None:
    """Paragraphs fill the line (no line breaks kept from the docstring: a line that had room for
    the next word would be one), and boolean options are switches without a `<bool>` value."""
    result = runner.invoke(app, [*command, "--help"], terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    text = result.output.split("\nOptions:")[0]
    paragraphs = [p.splitlines() for p in text.split("\n\n")[1:]]  # after the usage line
    for lines in paragraphs:
        for line, following in itertools.pairwise(lines):
            next_word = following.split()[0]
            assert len(line) + 1 + len(next_word) > WIDTH - 2, f"hard wrap before {next_word!r}:\n{line}"
    options = result.output.split("\nOptions:")[1]
    assert "--help" in options


def test_boolean_options_are_switches() -> None:
    result = runner.invoke(app, ["baseline", "build", "--help"])
    assert "--activate / --no-activate" in result.output
    result = runner.invoke(app, ["demo", "--help"])
    assert re.search(r"^  --kafka +Go through", result.output, re.M), result.output


def test_build_fits_segment_profiles_on_the_configured_column_and_refuses_a_file_without_it(
    tmp_path: Path,
) -> None:
    config, data = _setup(tmp_path)
    settings = yaml.safe_load(config.read_text())
    settings["models"][0]["segments"] = {"column": "region", "max_segments": 2}
    config.write_text(yaml.safe_dump(settings))
    args = ["baseline", "build", "-c", str(config), "-m", "churn", "-d", str(data)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "segments.column 'region'" in flat(refused.output)
    frame = pd.read_csv(data)
    frame["region"] = np.random.default_rng(1).choice(["eu", "us", "apac"], len(frame), p=[0.5, 0.3, 0.2])
    frame.to_csv(data, index=False)
    built = runner.invoke(app, args)
    assert built.exit_code == 0, built.output
    assert "drift per segment: 2 segments kept, the rest as __other__" in flat(built.output)
    shown = runner.invoke(app, ["baseline", "show", "-c", str(config), "-m", "churn"])
    assert "drift per segment over 2 segments and the rest: eu, us" in flat(shown.output)
