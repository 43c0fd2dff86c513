"""Baselines on disk: `<root>/<model>/<model_version>/<id>.json`, plus an `ACTIVE` file
naming the baseline in force for that model version.

Writes are atomic (temporary file, fsync, rename), so a crash never leaves a
half-written baseline or an ACTIVE pointer to one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

from monitor.baselines.baseline import Baseline
from monitor.errors import BaselineError

ACTIVE = "ACTIVE"


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file (read once, at import)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (a temporary file renamed over it), with the mode a plain
    open() gives (mkstemp's files are private: a report or a baseline must stay readable by the
    other users, e.g. the compose stack's containers, that a normal file would be)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class BaselineStore:
    root: Path

    def _dir(self, model: str, model_version: str) -> Path:
        return self.root / model / model_version

    def save(self, baseline: Baseline, activate: bool = True) -> Path:
        folder = self._dir(baseline.model, baseline.model_version)
        path = folder / f"{baseline.id}.json"
        atomic_write(path, orjson.dumps(baseline.to_state(), option=orjson.OPT_SERIALIZE_NUMPY))
        if activate:
            atomic_write(folder / ACTIVE, baseline.id.encode())
        return path

    def versions(self, model: str) -> list[str]:
        folder = self.root / model
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / ACTIVE).is_file())

    def active_id(self, model: str, model_version: str) -> str:
        pointer = self._dir(model, model_version) / ACTIVE
        try:
            return pointer.read_text().strip()
        except FileNotFoundError:
            known = ", ".join(self.versions(model)) or "none"
            raise BaselineError(
                f"no baseline for model {model!r} version {model_version!r} under {self.root} "
                f"(versions with a baseline: {known}); build one with `driftline baseline build`"
            ) from None

    def load(self, model: str, model_version: str, baseline_id: str | None = None) -> Baseline:
        baseline_id = baseline_id or self.active_id(model, model_version)
        path = self._dir(model, model_version) / f"{baseline_id}.json"
        try:
            state = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            raise BaselineError(f"baseline {baseline_id} of model {model!r} not found at {path}") from None
        except orjson.JSONDecodeError as err:
            raise BaselineError(f"baseline file {path} is corrupt: {err}") from None
        baseline = Baseline.from_state(state)
        if baseline.id != state.get("id"):
            raise BaselineError(f"baseline file {path} does not match its content hash (edited or corrupt)")
        return baseline

    def load_all(self, model: str) -> dict[str, Baseline]:
        """The active baseline of every version of `model`."""
        return {v: self.load(model, v) for v in self.versions(model)}
