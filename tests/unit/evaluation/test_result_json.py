"""Results as JSON documents, and the sink seam that carries them to exporters and alerts."""

from collections.abc import Sequence

import numpy as np
import orjson

from monitor.evaluation.result_json import window_document, window_id
from monitor.evaluation.results import WindowResult
from monitor.pipeline.monitor import Batch
from tests.unit.pipeline.test_monitor import NOW, Pipeline, _window_batch


class ListSink:
    def __init__(self) -> None:
        self.passes: list[list[WindowResult]] = []
        self.closed = False

    def write(self, results: Sequence[WindowResult]) -> None:
        self.passes.append(list(results))

    def close(self) -> None:
        self.closed = True


class BrokenSink(ListSink):
    def write(self, results: Sequence[WindowResult]) -> None:
        raise RuntimeError("receiver exploded")


def _drifted_run() -> tuple[Pipeline, ListSink]:
    rng = np.random.default_rng(3)
    pipeline = Pipeline()
    sink = ListSink()
    pipeline.service.sinks += [BrokenSink(), sink]
    for i in range(3):
        preds, outs = _window_batch(i, 2000, rng, shift=0.8 if i == 2 else 0.0)
        pipeline.ingest(Batch(predictions={("m", "1"): preds}, outcomes={"m": outs}))
    pipeline.service.evaluate(flush=True)
    return pipeline, sink


def test_every_evaluation_pass_reaches_the_sinks_even_when_one_sink_fails() -> None:
    pipeline, sink = _drifted_run()
    stored = [r for s in pipeline.service.results.streams() for r in pipeline.service.results.windows(*s)]
    assert len(sink.passes) == 1
    assert [r.window_start for r in sink.passes[0]] == [r.window_start for r in stored]
    pipeline.service.close_sinks()
    assert sink.closed


def test_window_document_is_json_and_names_the_drifted_feature() -> None:
    _, sink = _drifted_run()
    last = sink.passes[0][-1]
    doc = orjson.loads(orjson.dumps(window_document(last)))  # no NaN, no datetime, no numpy left
    assert doc["model"] == "m" and doc["model_version"] == "1"
    assert doc["window_id"] == window_id(last) == str(int(last.window_start.timestamp()))
    assert doc["window_start"].endswith("Z") and doc["evaluated_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert doc["drift"]["drifted_features"] == ["x1"]
    x1 = next(f for f in doc["drift"]["features"] if f["column"] == "x1")
    assert x1["drift_detected"] is True and x1["value"] > x1["threshold"]
    assert doc["performance"]["n_pairs"] == 2000
    assert doc["label_delay"]["buckets"][-1] == {"le_seconds": None, "count": doc["label_delay"]["count"]}
