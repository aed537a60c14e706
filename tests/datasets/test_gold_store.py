"""The monthly-partitioned parquet store behind the gold feature and label stores."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
from kedro.io.core import DatasetError

from diab_readmit.datasets.gold_store import (
    PartitionedParquetIndex,
    PartitionedParquetStore,
)


def frame(months: int, rows_per_month: int = 3, value: float = 1.0) -> pd.DataFrame:
    dates = pd.date_range("2001-01-01", periods=months, freq="MS").repeat(
        rows_per_month
    )
    return pd.DataFrame(
        {
            "encounter_id": range(len(dates)),
            "partition_date": dates.astype("datetime64[ms]"),
            "x": value,
        }
    )


def test_round_trip_in_hive_layout(tmp_path):
    store = PartitionedParquetStore(path=str(tmp_path / "store"))
    data = frame(14)
    store.save(data)
    partitions = sorted(p.name for p in (tmp_path / "store").glob("partition_date=*"))
    assert partitions[0] == "partition_date=2001-01-01" and len(partitions) == 14
    loaded = store.load()
    pd.testing.assert_frame_equal(loaded, data)

    index = PartitionedParquetIndex(path=str(tmp_path / "store")).load()
    assert index["exists"] and index["rows"] == 42 and len(index["partitions"]) == 14


def test_save_replaces_contents_and_removes_stale_partitions(tmp_path):
    store = PartitionedParquetStore(path=str(tmp_path / "store"))
    store.save(frame(14))
    store.save(frame(2, value=2.0))
    assert store.load()["x"].eq(2.0).all()
    # The previous commit stays for readers still reading it; the one before goes.
    assert len(list((tmp_path / "store").rglob("*.parquet"))) == 14 + 2
    store.save(frame(3, value=3.0))
    assert len(list((tmp_path / "store").glob("partition_date=*"))) == 3
    assert len(list((tmp_path / "store").rglob("*.parquet"))) == 2 + 3
    assert store.load()["x"].eq(3.0).all()


def test_interrupted_save_leaves_previous_contents(tmp_path, monkeypatch):
    store = PartitionedParquetStore(path=str(tmp_path / "store"))
    old = frame(4)
    store.save(old)

    calls = {"n": 0}
    real_write = pq.write_table

    def dies_on_third_partition(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(pq, "write_table", dies_on_third_partition)
    with pytest.raises(Exception, match="disk full"):
        store.save(frame(6, value=9.0))
    monkeypatch.undo()

    pd.testing.assert_frame_equal(
        store.load(), old
    )  # leftovers of the failed save are ignored
    store.save(frame(5, value=3.0))  # and the next save succeeds
    assert store.load()["x"].eq(3.0).all()
    # The 3 files of the failed save (the third one empty) stay (a concurrent save looks the same) until removed
    # by age, here any age.
    assert len(list((tmp_path / "store").rglob("*.parquet"))) == 4 + 3 + 5
    removed = store.remove_incomplete(timedelta(0))
    assert len(removed) == 1 and "_commits/g" in removed[0]
    assert len(list((tmp_path / "store").rglob("*.parquet"))) == 4 + 5


def test_corrupt_partition_is_reported_by_path(tmp_path):
    store = PartitionedParquetStore(path=str(tmp_path / "store"))
    store.save(frame(3))
    manifest = json.loads((tmp_path / "store" / "_manifest.json").read_text())
    broken = tmp_path / "store" / manifest["partitions"][1]["file"]
    broken.write_bytes(broken.read_bytes()[:40])  # truncated
    with pytest.raises(
        DatasetError,
        match=r"partition_date=2001-02-01/part-.*\.parquet is not a readable parquet",
    ):
        store.load()


def test_missing_store_says_what_to_run(tmp_path):
    with pytest.raises(DatasetError, match="kedro run --pipelines data_processing"):
        PartitionedParquetStore(path=str(tmp_path / "nothing")).load()
    index = PartitionedParquetIndex(path=str(tmp_path / "nothing")).load()
    assert index == {
        "path": str(tmp_path / "nothing"),
        "exists": False,
        "rows": 0,
        "partitions": [],
    }


def test_works_on_memory_filesystem():
    store = PartitionedParquetStore(path="memory://gold-test/store")
    store.save(frame(2))
    assert len(store.load()) == 6


def test_rows_in_the_wrong_partition_are_reported(tmp_path):
    store = PartitionedParquetStore(path=str(tmp_path / "store"))
    store.save(frame(3))
    manifest = json.loads((tmp_path / "store" / "_manifest.json").read_text())
    moved = tmp_path / "store" / manifest["partitions"][0]["file"]
    table = (
        pq.read_table(moved)
        .to_pandas()
        .assign(partition_date=pd.Timestamp("2001-05-01"))
    )
    table.to_parquet(moved, index=False)
    with pytest.raises(
        DatasetError,
        match=r"sits in partition_date=2001-01-01 but holds 3 row\(s\) with partition_date 2001-05-01",
    ):
        store.load()
