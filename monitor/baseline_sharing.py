"""Baselines shared through the state store, so every instance of a group runs the same one.

Each instance reads its baselines from its own directory (`baselines.path`) at start. A baseline
uploaded through the HTTP API reaches one instance; to reach the others, that instance also
publishes it as records of the state store, in one transaction:

    baselines.active                  key "<model>/<version>"  -> the active baseline's id
    baseline/<model>/<version>/<id>   key "artifact"           -> the artifact (Baseline.to_state JSON)

One namespace per artifact, so fetching one reads only that one.

Every instance checks the active pointers on each evaluation tick (`sync`). One that differs
from the baseline it runs is swapped in (`Service.swap_baseline`: open windows keep theirs) and
saved to the local directory, so a later start without the store finds it too. On start
(`start`), the newer of a version's local and published baselines wins: one built locally with
`driftline baseline build` while the service was down is published, an older one is replaced.
Windows built on a baseline another instance published are evaluated on it even before this
instance syncs: the evaluator asks `fetch` for a baseline id it does not know.

With the embedded SQLite store there is one instance, and this costs one small read per tick.
"""

from __future__ import annotations

import logging

import orjson

from monitor.baselines.baseline import Baseline
from monitor.baselines.store import BaselineStore
from monitor.service import Service
from monitor.state.store import RecordPut, StateStore

ACTIVE = "baselines.active"

log = logging.getLogger("driftline.baselines")


ARTIFACT = "artifact"


def artifact_namespace(model: str, version: str, baseline_id: str) -> str:
    """The record namespace of one published artifact (under key ARTIFACT)."""
    return f"baseline/{model}/{version}/{baseline_id}"


class SharedBaselines:
    def __init__(self, store: StateStore, service: Service) -> None:
        self.store = store
        self.service = service
        self.local = BaselineStore(service.config.baselines.path)

    def publish(self, baseline: Baseline, activate: bool) -> None:
        """Store the artifact, and with `activate` make it the version's active one, for every
        instance (atomically: no instance sees a pointer to an artifact not yet stored)."""
        key = f"{baseline.model}/{baseline.model_version}"
        artifact = orjson.dumps(baseline.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
        namespace = artifact_namespace(baseline.model, baseline.model_version, baseline.id)
        puts: list[RecordPut] = [(namespace, ARTIFACT, artifact)]
        if activate:
            puts.append((ACTIVE, key, baseline.id.encode()))
        self.store.write_records(puts)

    def fetch(self, model: str, version: str, baseline_id: str) -> Baseline | None:
        """A published baseline by id, or None if it was never published (or cannot be read)."""
        raw = self.store.load_records(artifact_namespace(model, version, baseline_id)).get(ARTIFACT)
        if raw is None:
            return None
        try:
            return Baseline.from_state(orjson.loads(raw))
        except (ValueError, KeyError, TypeError) as err:
            log.error(
                "baseline %s of %s version %s in the state store is unreadable: %s",
                baseline_id,
                model,
                version,
                err,
            )
            return None

    def start(self) -> list[Baseline]:
        """Reconcile on start: publish local baselines newer than the published ones (or never
        published), then swap in the published ones that are newer; returns those swapped in."""
        published = self._published()
        for (model, version), local in sorted(self.service.baselines.items()):
            baseline_id = published.get((model, version))
            if baseline_id == local.id:
                continue
            remote = None if baseline_id is None else self.fetch(model, version, baseline_id)
            if remote is None or local.created_at > remote.created_at:
                self.publish(local, activate=True)
        return self.sync()

    def sync(self) -> list[Baseline]:
        """Swap in every active baseline another instance published; returns those swapped in."""
        swapped = []
        for (model, version), baseline_id in sorted(self._published().items()):
            current = self.service.baselines.get((model, version))
            if current is not None and current.id == baseline_id:
                continue
            baseline = self.fetch(model, version, baseline_id)
            if baseline is None:
                continue
            self.local.save(baseline, activate=True)
            self.service.swap_baseline(baseline)
            log.info(
                "baseline %s of %s version %s swapped in: published by another instance",
                baseline_id,
                model,
                version,
            )
            swapped.append(baseline)
        return swapped

    def _published(self) -> dict[tuple[str, str], str]:
        """The active baseline id of every published version of a configured model."""
        configured = {m.name for m in self.service.config.models}
        active = {}
        for key, value in self.store.load_records(ACTIVE).items():
            model, _, version = key.partition("/")
            if model in configured:  # an instance configured with more models may publish others
                active[(model, version)] = value.decode()
        return active
