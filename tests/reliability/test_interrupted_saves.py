"""A save that dies at any point loses nothing: an exception before each file a snapshot or a
registry version writes (every point, exhaustively), and a real SIGKILL of a process stopped
between files or half-way through one. Local disk and the S3 server on loopback alike.

After every fault: ``latest.txt`` / ``latest/`` / ``versions.json`` read as they were (or, once
the version's metadata.json is written, as the newly committed version), every earlier
snapshot and version still loads, the partial folder is never read and is reported by the
next save, and the next save succeeds.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kedro.io.core import DatasetError

from diab_readmit.datasets.model_registry import (
    ModelRegistryDataset,
    ModelRegistryHistoryDataset,
)
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
from tests.conftest import PROJECT
from tests.datasets.test_model_registry import _bundle
from tests.datasets.test_preprocessed_snapshot import _snapshot
from tests.reliability.conftest import Backend


class Crash(Exception):
    """The injected fault: stands for a lost disk, a dropped connection, an OOM kill."""


def _fail_at(monkeypatch, cls, method: str, at: int) -> list[tuple]:
    """Make the ``at``-th call (0-based) of ``cls.method`` raise Crash; returns the calls seen."""
    real = getattr(cls, method)
    calls: list[tuple] = []

    def wrapper(self, *args):
        calls.append(args)
        if len(calls) - 1 == at:
            raise Crash(f"injected before call {at} of {method}{args[-1:]!r}")
        return real(self, *args)

    monkeypatch.setattr(cls, method, wrapper)
    return calls


# ---------------------------------------------------------------------------- snapshots
def _snapshot_dataset(backend: Backend) -> PreprocessedSnapshotDataset:
    return PreprocessedSnapshotDataset(
        path=backend.path("preprocessed"), credentials=backend.credentials
    )


def _check_snapshots_after_fault(
    backend, before_latest, good_ids, where, caplog
) -> None:
    dataset = _snapshot_dataset(backend)
    assert backend.read("preprocessed", "latest.txt") == before_latest, where
    assert dataset.load().snapshot_id == good_ids[-1], where
    for snapshot_id in good_ids:  # nothing lost
        pinned = PreprocessedSnapshotDataset(
            path=backend.path("preprocessed"),
            snapshot_id=snapshot_id,
            credentials=backend.credentials,
        )
        assert pinned.load().snapshot_id == snapshot_id, where
    partial = dataset.incomplete_snapshots()
    for snapshot_id in partial:
        with pytest.raises(
            DatasetError, match=rf"{snapshot_id} is incomplete: it has no metadata.json"
        ):
            PreprocessedSnapshotDataset(
                path=backend.path("preprocessed"),
                snapshot_id=snapshot_id,
                credentials=backend.credentials,
            ).load()

    caplog.clear()
    with caplog.at_level(
        logging.WARNING, logger="diab_readmit.datasets.preprocessed_snapshot"
    ):
        dataset.save(_snapshot(2.0))  # the next run succeeds
    fresh = dataset.load()
    assert fresh.snapshot_id not in good_ids and fresh.metadata["offset"] == 2.0, where
    if partial:
        assert (
            f"incomplete snapshot folder(s) at {backend.path('preprocessed')}: {', '.join(partial)}"
            in caplog.text
        )


def test_snapshot_save_fails_at_every_write(backend, monkeypatch, caplog):
    dataset = _snapshot_dataset(backend)
    dataset.save(_snapshot(0.0))
    points = 0
    for at in range(20):
        good_ids = dataset.snapshot_ids()
        before_latest = backend.read("preprocessed", "latest.txt")
        calls = _fail_at(monkeypatch, PreprocessedSnapshotDataset, "_write", at)
        try:
            dataset.save(_snapshot(1.0))
        except DatasetError as exc:
            assert isinstance(exc.__cause__, Crash) or "injected" in str(exc), exc
        else:
            monkeypatch.undo()
            assert len(calls) == at, "the save completed without reaching the fault"
            break
        monkeypatch.undo()
        points += 1
        _check_snapshots_after_fault(
            backend, before_latest, good_ids, f"{backend.name}, write {at}", caplog
        )

    # The last point: every file and metadata.json written, latest.txt not yet moved.
    good_ids = dataset.snapshot_ids()
    before_latest = backend.read("preprocessed", "latest.txt")
    _fail_at(monkeypatch, PreprocessedSnapshotDataset, "_point_latest_at", 0)
    with pytest.raises(DatasetError, match="injected"):
        dataset.save(_snapshot(1.0))
    monkeypatch.undo()
    points += 1
    assert backend.read("preprocessed", "latest.txt") == before_latest
    assert dataset.load().snapshot_id == good_ids[-1]
    assert len(dataset.snapshot_ids()) == len(good_ids) + 1, (
        "complete, just not latest: pin it to use it"
    )

    assert points == 6, "4 data files + metadata.json + latest.txt"


# ---------------------------------------------------------------------------- registry
def _registry(backend: Backend) -> ModelRegistryDataset:
    return ModelRegistryDataset(
        path=backend.path("registry", "xgboost"), credentials=backend.credentials
    )


def _index_files(backend: Backend) -> dict[str, bytes]:
    files = backend.files("registry", "xgboost")
    return {
        k: v
        for k, v in files.items()
        if k == "versions.json" or k.startswith("latest/")
    }


def _check_registry_after_fault(
    backend, before_index, before_committed, where, caplog
) -> None:
    registry = _registry(backend)
    committed = registry.committed_versions()
    new = [v for v in committed if v not in before_committed]
    assert committed[: len(before_committed)] == before_committed and len(new) <= 1, (
        where
    )
    if (
        not new
    ):  # died before the commit point: the indexes are byte for byte as they were
        assert _index_files(backend) == before_index, where
    loaded = (
        registry.load()
    )  # latest/ reads as it was, or as the newly committed version
    assert loaded["version_id"] in (before_committed[-1], *new), where
    if not new:
        assert loaded["version_id"] == before_committed[-1], where
    for version in before_committed:  # nothing lost
        pinned = ModelRegistryDataset(
            path=backend.path("registry", "xgboost"),
            pinned_version=version,
            credentials=backend.credentials,
        )
        assert pinned.load()["version_id"] == version, where
    history = ModelRegistryHistoryDataset(
        path=backend.path("registry", "xgboost"), credentials=backend.credentials
    )
    assert [v["id"] for v in history.load()["versions"]] == committed, where
    partial = registry.incomplete_versions()

    caplog.clear()
    with caplog.at_level(
        logging.WARNING, logger="diab_readmit.datasets.model_registry"
    ):
        registry.save(_bundle(0.8, with_plots=False))  # the next run succeeds
    after = registry.committed_versions()
    index = json.loads(backend.read("registry", "xgboost", "versions.json"))
    assert [entry["id"] for entry in index["versions"]] == after and index[
        "latest"
    ] == after[-1], where
    assert registry.load()["version_id"] == after[-1], where
    if partial:
        assert (
            "incomplete version folder(s) of 'xgboost'" in caplog.text
            and partial[0] in caplog.text
        ), where


def test_registration_fails_at_every_write(backend, monkeypatch, caplog):
    registry = _registry(backend)
    registry.save(_bundle(0.70))
    points = 0
    # The claim: an exclusive create (commit_protocol), not a write.
    before_committed, before_index = (
        registry.committed_versions(),
        _index_files(backend),
    )
    _fail_at(monkeypatch, ModelRegistryDataset, "_create_exclusive", 0)
    with pytest.raises(DatasetError, match="injected"):
        registry.save(_bundle(0.75))
    monkeypatch.undo()
    points += 1
    _check_registry_after_fault(
        backend, before_index, before_committed, f"{backend.name}, claim", caplog
    )
    for at in range(30):
        before_committed = registry.committed_versions()
        before_index = _index_files(backend)
        calls = _fail_at(monkeypatch, ModelRegistryDataset, "_write_bytes", at)
        try:
            registry.save(_bundle(0.75))
        except DatasetError as exc:
            assert isinstance(exc.__cause__, Crash) or "injected" in str(exc), exc
        else:
            monkeypatch.undo()
            assert len(calls) == at
            break
        monkeypatch.undo()
        points += 1
        _check_registry_after_fault(
            backend,
            before_index,
            before_committed,
            f"{backend.name}, write {at}",
            caplog,
        )
    # claim, model.pkl, 2 plots, model_card.md, metadata.json (the commit),
    # latest/model.pkl, latest/metadata.json, versions.json
    assert points == 9


# ---------------------------------------------------------------------------- SIGKILL
_VICTIM = r"""
import json, pathlib, sys, time
from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset

kind, path, credentials, at, torn, marker = sys.argv[1:7]
credentials, at, torn = json.loads(credentials), int(at), torn == "torn"
cls, method = {
    "snapshot": (PreprocessedSnapshotDataset, "_write"),
    "registry": (ModelRegistryDataset, "_write_bytes"),
    "latest.txt": (PreprocessedSnapshotDataset, "_point_latest_at"),
}[kind]
real, calls = getattr(cls, method), []

def stop_here(self, *args):
    calls.append(args)
    if len(calls) - 1 == at:
        if torn:  # half of the file reaches the store, then the process dies
            parts = args[:-1] if kind == "snapshot" else args[1:]
            content = args[-1] if kind == "snapshot" else args[0]
            with self._fs.open(self._join(*parts), "wb") as handle:
                handle.write(content[: len(content) // 2])
        pathlib.Path(marker).write_text(repr(args[:1] if kind == "registry" else args[:2]))
        time.sleep(120)  # killed here
    return real(self, *args)

setattr(cls, method, stop_here)
if kind == "registry":
    from tests.datasets.test_model_registry import _bundle
    ModelRegistryDataset(path=path, credentials=credentials).save(_bundle(0.75))
else:
    from tests.datasets.test_preprocessed_snapshot import _snapshot
    PreprocessedSnapshotDataset(path=path, credentials=credentials).save(_snapshot(1.0))
"""


def _kill_mid_save(
    kind: str, path: str, credentials: dict, at: int, torn: bool, marker: Path
) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _VICTIM,
            kind,
            path,
            json.dumps(credentials),
            str(at),
            "torn" if torn else "whole",
            str(marker),
        ],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(
                f"the save never reached fault point {at}:\n{process.communicate()[0][-3000:]}"
            )
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(30) == -signal.SIGKILL


#: (what is killed, before which write, half of that file written?)
#: Every point is covered by the exception tests above; these show a real kill at the
#: interesting ones (a torn data file, just before the commit's last step, right after the
#: commit); the kill between latest/'s two files has its own test below.
SNAPSHOT_KILLS = [("snapshot", 1, True), ("latest.txt", 0, False)]
REGISTRY_KILLS = [(0, True), (4, False)]


def test_snapshot_save_killed_with_sigkill(backend, tmp_path, caplog):
    dataset = _snapshot_dataset(backend)
    dataset.save(_snapshot(0.0))
    for number, (kind, at, torn) in enumerate(SNAPSHOT_KILLS):
        good_ids = dataset.snapshot_ids()
        before_latest = backend.read("preprocessed", "latest.txt")
        marker = tmp_path / f"reached-{number}"
        _kill_mid_save(
            kind, backend.path("preprocessed"), backend.credentials, at, torn, marker
        )
        where = f"{backend.name}: SIGKILL before {kind} write {at}{' (torn)' if torn else ''}"
        if kind == "latest.txt":
            assert backend.read("preprocessed", "latest.txt") == before_latest, where
            assert dataset.load().snapshot_id == good_ids[-1], where
            assert len(dataset.snapshot_ids()) == len(good_ids) + 1, where
        else:
            _check_snapshots_after_fault(
                backend, before_latest, good_ids, where, caplog
            )


def test_registration_killed_with_sigkill(backend, tmp_path, caplog):
    registry = _registry(backend)
    registry.save(_bundle(0.70))
    for number, (at, torn) in enumerate(REGISTRY_KILLS):
        before_committed = registry.committed_versions()
        before_index = _index_files(backend)
        marker = tmp_path / f"reached-{number}"
        _kill_mid_save(
            "registry", registry._path, backend.credentials, at, torn, marker
        )
        where = f"{backend.name}: SIGKILL before registry write {at}{' (torn)' if torn else ''}: {marker.read_text()}"
        _check_registry_after_fault(
            backend, before_index, before_committed, where, caplog
        )


def test_latest_killed_between_its_two_files_reads_as_it_was(backend, tmp_path):
    """The one window where latest/ is out of step: model.pkl of the new version, metadata.json
    of the old. Loading latest/ must give the old version whole, not refuse and not mix."""
    registry = _registry(backend)
    registry.save(_bundle(0.70))
    first = registry.committed_versions()[-1]
    _kill_mid_save(
        "registry", registry._path, backend.credentials, 5, False, tmp_path / "reached"
    )
    second = registry.committed_versions()[-1]
    assert second != first
    assert (
        json.loads(backend.read("registry", "xgboost", "latest", "metadata.json"))[
            "version_id"
        ]
        == first
    )
    assert backend.read("registry", "xgboost", "latest", "model.pkl") == backend.read(
        "registry", "xgboost", second, "model.pkl"
    )
    loaded = registry.load()
    assert loaded["version_id"] == first
    assert loaded["metadata"]["performance"]["test"]["auc_roc"] == 0.70
    registry.refresh_indexes()  # what the next registration does first
    assert registry.load()["version_id"] == second
