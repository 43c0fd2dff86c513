"""atomic_write: whole or nothing, and the file mode a plain open() would give (not mkstemp's 0600)."""

import os
from pathlib import Path

import pytest

from monitor.baselines.store import FILE_MODE, atomic_write


def test_a_written_file_has_the_mode_of_a_normal_new_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"x")
    atomic_write(tmp_path / "sub" / "report.html", b"<html/>")
    written = tmp_path / "sub" / "report.html"
    assert written.read_bytes() == b"<html/>"
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == FILE_MODE


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ACTIVE"
    atomic_write(target, b"old")

    def broken(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["ACTIVE"]
