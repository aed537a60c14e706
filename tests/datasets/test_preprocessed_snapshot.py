"""PreprocessedSnapshotDataset: round trips on local disk, memory:// and S3, latest.txt,
pinning, same-second saves, and saves interrupted half-way."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from kedro.io.core import DatasetError
from sklearn.preprocessing import StandardScaler

from diab_readmit.contracts import PreprocessedSnapshot
from diab_readmit.datasets import preprocessed_snapshot
from diab_readmit.datasets.parquet_window import ParquetWindow
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset


def _snapshot(offset: float = 0.0) -> PreprocessedSnapshot:
    rng = np.random.default_rng(0)
    windows = {}
    for name, rows in (("train", 30), ("test", 10), ("oot", 5)):
        windows[name] = pd.DataFrame(
            {
                "encounter_id": np.arange(rows, dtype=np.int64),
                "partition_date": pd.to_datetime(["2005-01-01"] * rows).astype(
                    "datetime64[ms]"
                ),
                "readmitted_30d": (np.arange(rows) % 4 == 0).astype(np.int8),
                "age_midpoint": (rng.normal(size=rows) + offset).astype(np.float32),
            }
        )
    scaler = StandardScaler().fit(windows["train"][["age_midpoint"]])
    return PreprocessedSnapshot(
        **windows,
        scaler=scaler,
        metadata={"feature_columns": ["age_midpoint"], "offset": offset},
    )


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _assert_round_trip(
    dataset: PreprocessedSnapshotDataset, saved: PreprocessedSnapshot
) -> PreprocessedSnapshot:
    loaded = dataset.load()
    for window in ("train", "test", "oot"):
        pd.testing.assert_frame_equal(loaded.window(window), saved.window(window))
    assert loaded.scaler.mean_ == pytest.approx(saved.scaler.mean_)
    assert loaded.metadata["offset"] == saved.metadata["offset"]
    assert loaded.metadata["snapshot_id"] == loaded.snapshot_id
    return loaded


def test_round_trip_on_local_disk_with_checksums(tmp_path):
    dataset = PreprocessedSnapshotDataset(path=str(tmp_path / "preprocessed"))
    assert not dataset.exists()
    saved = _snapshot()
    dataset.save(saved)

    loaded = _assert_round_trip(dataset, saved)
    snapshot_id = loaded.snapshot_id
    assert (tmp_path / "preprocessed" / "latest.txt").read_text().strip() == snapshot_id
    folder = tmp_path / "preprocessed" / snapshot_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "_claim.json",
        "metadata.json",
        "oot_processed.parquet",
        "scaler.pkl",
        "test_processed.parquet",
        "train_processed.parquet",
    ]
    files = json.loads((folder / "metadata.json").read_text())["files"]
    for name, recorded in files.items():
        assert (
            recorded["sha256"]
            == hashlib.sha256((folder / name).read_bytes()).hexdigest()
        )
    assert dataset.exists()


def test_round_trip_on_memory_filesystem():
    dataset = PreprocessedSnapshotDataset(
        path=f"memory://snapshots-{uuid.uuid4().hex}/preprocessed"
    )
    saved = _snapshot()
    dataset.save(saved)
    _assert_round_trip(dataset, saved)


@pytest.fixture(scope="module")
def s3_endpoint():
    moto_server = pytest.importorskip("moto.server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(
        ip_address="127.0.0.1", port=port, verbose=False
    )
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_round_trip_on_s3(s3_endpoint):
    import s3fs

    credentials = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": s3_endpoint},
    }
    bucket = f"gold-{uuid.uuid4().hex[:8]}"
    s3fs.S3FileSystem(**credentials).mkdir(bucket)
    dataset = PreprocessedSnapshotDataset(
        path=f"s3://{bucket}/gold/preprocessed", credentials=credentials
    )

    first, second = _snapshot(0.0), _snapshot(1.0)
    dataset.save(first)
    dataset.save(second)
    loaded = _assert_round_trip(dataset, second)
    assert dataset.snapshot_ids()[-1] == loaded.snapshot_id
    pinned = PreprocessedSnapshotDataset(
        path=f"s3://{bucket}/gold/preprocessed",
        snapshot_id=dataset.snapshot_ids()[0],
        credentials=credentials,
    )
    _assert_round_trip(pinned, first)


def test_saves_in_the_same_second_do_not_collide(tmp_path, monkeypatch):
    monkeypatch.setattr(preprocessed_snapshot, "datetime", _FrozenClock)
    dataset = PreprocessedSnapshotDataset(path=str(tmp_path))
    first, second = _snapshot(0.0), _snapshot(1.0)
    dataset.save(first)
    dataset.save(second)

    assert dataset.snapshot_ids() == [
        "train_data_20250102_030405",
        "train_data_20250102_030405_01",
    ]
    assert dataset.load().snapshot_id == "train_data_20250102_030405_01"
    _assert_round_trip(
        PreprocessedSnapshotDataset(
            path=str(tmp_path), snapshot_id="train_data_20250102_030405"
        ),
        first,
    )


def test_pinned_snapshot_is_loaded_instead_of_latest(tmp_path, monkeypatch):
    dataset = PreprocessedSnapshotDataset(path=str(tmp_path))
    first = _snapshot(0.0)
    dataset.save(first)
    first_id = dataset.load().snapshot_id
    dataset.save(_snapshot(1.0))
    assert dataset.load().snapshot_id != first_id

    _assert_round_trip(
        PreprocessedSnapshotDataset(path=str(tmp_path), snapshot_id=first_id), first
    )


def test_interrupted_save_keeps_latest_and_is_never_loadable(tmp_path, monkeypatch):
    dataset = PreprocessedSnapshotDataset(path=str(tmp_path))
    previous = _snapshot(0.0)
    dataset.save(previous)
    previous_id = dataset.load().snapshot_id

    monkeypatch.setattr(preprocessed_snapshot, "datetime", _FrozenClock)
    real_write = PreprocessedSnapshotDataset._write
    calls = []

    def write_then_fail(self, snapshot_id, name, content):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real_write(self, snapshot_id, name, content)

    monkeypatch.setattr(PreprocessedSnapshotDataset, "_write", write_then_fail)
    with pytest.raises(DatasetError, match="No space left"):
        dataset.save(_snapshot(1.0))

    half_written = tmp_path / "train_data_20250102_030405"
    assert sorted(p.name for p in half_written.iterdir()) == [
        "_claim.json",
        "train_processed.parquet",
    ]
    assert (tmp_path / "latest.txt").read_text().strip() == previous_id
    _assert_round_trip(dataset, previous)
    assert dataset.snapshot_ids() == [previous_id]
    with pytest.raises(
        DatasetError,
        match=r"train_data_20250102_030405 is incomplete: it has no metadata.json",
    ):
        PreprocessedSnapshotDataset(
            path=str(tmp_path), snapshot_id="train_data_20250102_030405"
        ).load()


def test_save_interrupted_before_metadata_leaves_an_unloadable_snapshot(
    tmp_path, monkeypatch
):
    dataset = PreprocessedSnapshotDataset(path=str(tmp_path))
    dataset.save(_snapshot(0.0))
    previous_id = dataset.load().snapshot_id
    monkeypatch.setattr(preprocessed_snapshot, "datetime", _FrozenClock)
    real_write = PreprocessedSnapshotDataset._write

    def fail_on_metadata(self, snapshot_id, name, content):
        if name == "metadata.json":
            raise OSError("connection reset")
        return real_write(self, snapshot_id, name, content)

    monkeypatch.setattr(PreprocessedSnapshotDataset, "_write", fail_on_metadata)
    with pytest.raises(DatasetError, match="connection reset"):
        dataset.save(_snapshot(1.0))

    assert dataset.load().snapshot_id == previous_id
    with pytest.raises(DatasetError, match="is incomplete"):
        PreprocessedSnapshotDataset(
            path=str(tmp_path), snapshot_id="train_data_20250102_030405"
        ).load()


def test_modified_file_is_refused_by_its_checksum(tmp_path):
    dataset = PreprocessedSnapshotDataset(path=str(tmp_path))
    dataset.save(_snapshot())
    snapshot_id = dataset.load().snapshot_id
    target = tmp_path / snapshot_id / "test_processed.parquet"
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")

    with pytest.raises(
        DatasetError,
        match=rf"{snapshot_id}/test_processed.parquet does not match its sha256 in metadata.json",
    ):
        dataset.load()


def test_loading_when_nothing_was_saved_says_what_to_run(tmp_path):
    path = tmp_path / "preprocessed"
    with pytest.raises(DatasetError) as caught:
        PreprocessedSnapshotDataset(path=str(path)).load()
    assert (
        str(caught.value)
        == f"no preprocessed snapshot at {path}: run `kedro run --pipelines preprocessing` first."
    )


def test_pinning_an_unknown_snapshot_lists_the_available_ones(tmp_path):
    dataset = PreprocessedSnapshotDataset(path=str(tmp_path))
    dataset.save(_snapshot())
    existing = dataset.load().snapshot_id
    with pytest.raises(
        DatasetError,
        match=rf"train_data_19990101_000000 does not exist .*complete snapshots: {existing}",
    ):
        PreprocessedSnapshotDataset(
            path=str(tmp_path), snapshot_id="train_data_19990101_000000"
        ).load()


def test_malformed_snapshot_id_is_refused_up_front(tmp_path):
    with pytest.raises(
        DatasetError, match="snapshot_id '../elsewhere' is not a snapshot id"
    ):
        PreprocessedSnapshotDataset(path=str(tmp_path), snapshot_id="../elsewhere")


def test_saving_something_else_than_a_snapshot_is_refused(tmp_path):
    with pytest.raises(
        DatasetError,
        match=r"expected a dict with keys \['metadata', 'oot', 'scaler', 'test', 'train'\]",
    ):
        PreprocessedSnapshotDataset(path=str(tmp_path)).save({"train": pd.DataFrame()})
    assert list(tmp_path.iterdir()) == []


def _lazy_dataset(path: str, **kwargs) -> PreprocessedSnapshotDataset:
    # _snapshot() has 30 train, 10 test and 5 OOT rows: only train reaches 20 rows.
    return PreprocessedSnapshotDataset(path=path, lazy_min_rows=20, **kwargs)


def test_windows_from_lazy_min_rows_on_load_as_parquet_windows(tmp_path):
    dataset = _lazy_dataset(str(tmp_path))
    saved = _snapshot()
    dataset.save(saved)
    loaded = dataset.load()
    assert isinstance(loaded.train, ParquetWindow)
    assert isinstance(loaded.test, pd.DataFrame)
    assert isinstance(loaded.oot, pd.DataFrame)
    assert len(loaded.train) == 30 and "age_midpoint" in loaded.train
    pd.testing.assert_frame_equal(loaded.train.to_pandas(), saved.train)
    # Local snapshots are read where they are, no copy.
    assert loaded.train.shown.endswith(f"{loaded.snapshot_id}/train_processed.parquet")
    # Without the setting every window is a DataFrame, as before.
    plain = PreprocessedSnapshotDataset(path=str(tmp_path)).load()
    assert all(isinstance(w, pd.DataFrame) for w in plain.windows().values())


def test_a_lazy_window_is_checked_by_its_streamed_sha256(tmp_path, monkeypatch):
    # Chunks of 64 bytes: the file is hashed over many reads, never read whole.
    monkeypatch.setattr(preprocessed_snapshot, "HASH_CHUNK_BYTES", 64)
    dataset = _lazy_dataset(str(tmp_path))
    dataset.save(_snapshot())
    snapshot_id = dataset.load().snapshot_id
    target = tmp_path / snapshot_id / "train_processed.parquet"
    content = target.read_bytes()
    middle = len(content) // 2
    target.write_bytes(
        content[:middle] + bytes([content[middle] ^ 1]) + content[middle + 1 :]
    )
    with pytest.raises(
        DatasetError,
        match=rf"{snapshot_id}/train_processed.parquet does not match its sha256",
    ):
        dataset.load()
    target.unlink()
    with pytest.raises(DatasetError, match=r"train_processed.parquet is missing"):
        dataset.load()


def test_remote_lazy_windows_are_copied_once_while_hashed(monkeypatch):
    dataset = _lazy_dataset(f"memory://snapshots-{uuid.uuid4().hex}/preprocessed")
    saved = _snapshot()
    dataset.save(saved)
    streamed = []
    original = PreprocessedSnapshotDataset._streamed_sha256

    def counted(self, source, copy_to):
        streamed.append(source)
        return original(self, source, copy_to)

    monkeypatch.setattr(PreprocessedSnapshotDataset, "_streamed_sha256", counted)
    first, second = dataset.load(), dataset.load()
    assert len(streamed) == 1  # the second load reads the verified local copy
    assert first.train._path == second.train._path
    assert first.train.shown.startswith("memory://")
    pd.testing.assert_frame_equal(second.train.to_pandas(), saved.train)


def test_remote_lazy_window_with_a_wrong_checksum_is_refused_and_not_kept():
    path = f"memory://snapshots-{uuid.uuid4().hex}/preprocessed"
    dataset = _lazy_dataset(path)
    dataset.save(_snapshot())
    snapshot_id = PreprocessedSnapshotDataset(path=path).load().snapshot_id
    name = dataset._join(snapshot_id, "train_processed.parquet")
    fs = dataset._fs
    content = fs.cat_file(name)
    fs.pipe_file(name, content[:100] + bytes([content[100] ^ 1]) + content[101:])
    with pytest.raises(DatasetError, match="does not match its sha256"):
        dataset.load()
    assert dataset._local_copies == {}
    assert os.listdir(dataset._copies.name) == []


def test_lazy_windows_on_s3_are_verified_copies_and_a_tampered_one_is_refused(
    s3_endpoint,
):
    import s3fs

    credentials = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": s3_endpoint},
    }
    bucket = f"lazy-{uuid.uuid4().hex[:8]}"
    fs = s3fs.S3FileSystem(**credentials)
    fs.mkdir(bucket)
    path = f"s3://{bucket}/gold/preprocessed"
    saved = _snapshot()
    _lazy_dataset(path, credentials=credentials).save(saved)

    dataset = _lazy_dataset(path, credentials=credentials)
    loaded = dataset.load()
    assert isinstance(loaded.train, ParquetWindow)
    assert loaded.train.shown == (
        f"{path}/{loaded.snapshot_id}/train_processed.parquet"
    )
    assert os.path.isfile(loaded.train._path)  # a local copy, not the S3 object
    pd.testing.assert_frame_equal(loaded.train.to_pandas(), saved.train)
    pd.testing.assert_frame_equal(loaded.test, saved.test)

    key = f"{bucket}/gold/preprocessed/{loaded.snapshot_id}/train_processed.parquet"
    content = fs.cat_file(key)
    fs.pipe_file(key, content[:100] + bytes([content[100] ^ 1]) + content[101:])
    fresh = _lazy_dataset(path, credentials=credentials)
    with pytest.raises(
        DatasetError,
        match=rf"{loaded.snapshot_id}/train_processed.parquet does not match its sha256",
    ):
        fresh.load()
    assert fresh._local_copies == {}


def test_windows_are_saved_in_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(preprocessed_snapshot, "ROW_GROUP_ROWS", 8)
    dataset = PreprocessedSnapshotDataset(path=str(tmp_path))
    dataset.save(_snapshot())
    snapshot_id = dataset.load().snapshot_id
    parquet = pq.ParquetFile(tmp_path / snapshot_id / "train_processed.parquet")
    assert parquet.num_row_groups == 4  # 30 rows


def test_lazy_min_rows_below_one_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="lazy_min_rows .* is 0"):
        PreprocessedSnapshotDataset(path=str(tmp_path), lazy_min_rows=0)
