"""The claim rule of commit_protocol, and local storage errors with local advice (issue 13).

- Exclusive creates: of many writers claiming ids in the same second, each gets its own; a
  server that ignores ``If-None-Match: *`` is refused rather than trusted.
- A full disk during a registration leaves no ``model.pkl.tmp-*`` behind, says so with local
  advice, and the next registration's warning names a staging file a killed process left.
- Permission errors on a local folder say chmod / chown, not S3 buckets and IAM.
"""

from __future__ import annotations

import errno
import logging
import threading
from datetime import UTC, datetime

import pytest
from kedro.io.core import DatasetError

from diab_readmit.datasets.commit_protocol import CommitFolders
from diab_readmit.datasets.fsspec_folder import FsspecFolder
from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.datasets.storage_errors import storage_errors_named
from tests.datasets.test_model_registry import _bundle


def test_writers_claiming_in_the_same_second_each_get_their_own_id(backend):
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    barrier, ids, lock = threading.Barrier(6), [], threading.Lock()

    def claim() -> None:
        commits = CommitFolders(
            FsspecFolder(backend.path("store"), backend.credentials),
            "v",
            "metadata.json",
        )
        barrier.wait()
        commit_id = commits.claim(now)
        with lock:
            ids.append(commit_id)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ids) == [
        "v20260102_030405",
        *(f"v20260102_030405_{n:02d}" for n in range(1, 6)),
    ]


def test_a_store_that_ignores_conditional_writes_is_refused(backend, monkeypatch):
    if backend.name == "local":
        pytest.skip("local disk has O_EXCL; the check is for object stores")
    folder = FsspecFolder(backend.path("store"), backend.credentials)
    real = folder._fs.pipe_file  # s3fs mirrors its sync methods onto the instance

    def ignores_the_condition(path, value, mode="overwrite", **kwargs):
        return real(path, value, **kwargs)  # an old server: If-None-Match dropped

    monkeypatch.setattr(folder._fs, "pipe_file", ignores_the_condition)
    with pytest.raises(
        DatasetError, match=r"ignores conditional writes \(If-None-Match: \*\)"
    ):
        CommitFolders(folder, "v", "metadata.json").claim(datetime.now(UTC))


def test_disk_full_during_registration_leaves_no_temporary_files(
    tmp_path, monkeypatch, caplog
):
    root = tmp_path / "registry" / "xgboost"
    registry = ModelRegistryDataset(path=str(root))
    registry.save(_bundle(0.70))
    real_open = type(registry._fs).open

    def full_disk(self, path, mode="rb", **kwargs):
        handle = real_open(self, path, mode, **kwargs)
        if "model.pkl.tmp-" in str(path) and "w" in mode:
            handle.write = lambda data: (_ for _ in ()).throw(
                OSError(errno.ENOSPC, "No space left on device")
            )
        return handle

    monkeypatch.setattr(type(registry._fs), "open", full_disk)
    with pytest.raises(DatasetError) as error:
        registry.save(_bundle(0.75))
    monkeypatch.undo()
    message = str(error.value)
    assert (
        "No space left on the device while registering a model in" in message
        and str(root) in message
    )
    assert "bucket" not in message
    assert not list(root.rglob("*.tmp-*")), "the failed save removed its staging file"

    # A staging file left by a killed process is named by the next registration's warning.
    killed = registry.incomplete_versions()[0]
    (root / killed / "model.pkl.tmp-deadbeef").write_bytes(b"half a model")
    with caplog.at_level(
        logging.WARNING, logger="diab_readmit.datasets.model_registry"
    ):
        registry.save(_bundle(0.76))
    assert f"leftover temporary files: {killed}/model.pkl.tmp-deadbeef" in caplog.text
    assert killed in caplog.text and "storage_cleanup --older-than" in caplog.text


def test_local_permission_errors_get_local_advice(tmp_path):
    with (
        pytest.raises(DatasetError) as error,
        storage_errors_named(str(tmp_path / "06_models"), "registering a model in"),
    ):
        raise PermissionError(
            errno.EACCES, "Permission denied", str(tmp_path / "06_models" / "x")
        )
    message = str(error.value)
    assert (
        f"Permission denied while registering a model in {tmp_path / '06_models'}"
        in message
    )
    assert "chmod" in message and "bucket" not in message and "s3:" not in message

    with (
        pytest.raises(DatasetError, match=r"bucket 'b', key prefix 'm/'.*s3:PutObject"),
        storage_errors_named("s3://b/m", "registering a model in"),
    ):
        raise PermissionError("Forbidden")
