"""A candidate window's comparison section: in the JSON document, through a stored record and back,
and absent from the baseline version's windows and from records written before comparisons."""

import numpy as np
import orjson
import pytest
from rich.console import Console

from monitor.evaluation.result_json import window_document
from monitor.evaluation.result_record import decode_result, encode_result
from monitor.evaluation.result_view import window_detail, windows_table
from monitor.evaluation.results import WindowResult
from tests.unit import canary_world as world


@pytest.fixture(scope="module")
def evaluated() -> list[WindowResult]:
    cfg = world.config()
    running = world.service(cfg, world.baselines(cfg))
    list(world.looks(running, 6, 2000, np.random.default_rng(5), 0.865, 0.80))
    return [r for stream in running.results.streams() for r in running.results.windows(*stream)]


def test_the_candidate_window_carries_the_comparison_and_the_baseline_version_none(
    evaluated: list[WindowResult],
) -> None:
    candidate = [r for r in evaluated if r.model_version == "2"]
    assert candidate and all(r.comparison is not None for r in candidate)
    assert all(r.comparison is None for r in evaluated if r.model_version == "1")
    last = candidate[-1].comparison
    assert last is not None and last.verdict == "rollback"
    doc = window_document(candidate[-1])["comparison"]
    assert doc["baseline_version"] == "1" and doc["candidate_version"] == "2"
    assert doc["verdict"] == "rollback" and doc["cumulative"]["metric"] == "accuracy"
    assert doc["cumulative"]["difference_upper"] < 0 < doc["cumulative"]["n_a"]
    assert doc["window"]["n_a"] + doc["window"]["n_b"] == 2000
    assert doc["prediction_drift"]["statistic"] == "jensen_shannon"
    assert doc["since"].endswith("Z")
    # the verdict changed on the first window whose evaluation said rollback (event time)
    first = next(r for r in candidate if r.comparison is not None and r.comparison.verdict == "rollback")
    assert doc["verdict_window_start"] == window_document(first)["window_start"]


def test_a_record_round_trips_the_comparison(evaluated: list[WindowResult]) -> None:
    for result in evaluated:
        back = decode_result(encode_result(result))
        assert back.comparison == result.comparison
        assert window_document(back) == window_document(result)
    candidate = next(r for r in evaluated if r.comparison is not None)
    record = orjson.loads(encode_result(candidate))
    del record["window"]["comparison"]  # a record written before version comparison
    assert decode_result(orjson.dumps(record)).comparison is None


def test_the_terminal_views_show_the_verdict(evaluated: list[WindowResult]) -> None:
    candidate = [r for r in evaluated if r.model_version == "2"]
    console = Console(width=240, record=True)
    console.print(windows_table("m", "2", candidate))
    console.print(window_detail(candidate[-1]))
    text = console.export_text()
    assert "verdict" in text and "rollback vs v1" in text
    assert "version comparison (canary) against version 1: rollback since the window of 2026-05-04" in text
    assert "this window: accuracy" in text and "jensen_shannon" in text
    plain = Console(width=240, record=True)
    plain.print(windows_table("m", "1", [r for r in evaluated if r.model_version == "1"]))
    assert "verdict" not in plain.export_text()  # no comparison: no column
