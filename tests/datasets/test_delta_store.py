"""The Delta table behind the gold, label and scored stores: what a save writes, what a load
returns, and what it says when the table is damaged or in the old layout."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from kedro.io.core import DatasetError

from diab_readmit.datasets.delta_store import DeltaTableStore
from diab_readmit.datasets.delta_views import (
    DeltaTableIndex,
    GoldRowsLookupDataset,
    ScoredExtractsDataset,
)
from tests.analyst_engines import assert_engines_read


def data_files(path) -> list[str]:
    """The table's data files, relative to its folder, as its log names them."""
    table = pa.table(DeltaTable(str(path)).get_add_actions(flatten=True))
    return table["path"].to_pylist()


def frame(tag: float, months: int = 3, start: str = "2001-01-01") -> pd.DataFrame:
    dates = pd.date_range(start, periods=months, freq="MS").repeat(4)
    return pd.DataFrame(
        {
            "encounter_id": range(len(dates)),
            "partition_date": dates.astype("datetime64[ms]"),
            "tag": tag,
            "diag_3": None,  # a column that is all missing in this save
            "code": "428",
        }
    )


def test_round_trip_is_a_delta_table_partitioned_by_month(tmp_path):
    store = DeltaTableStore(path=str(tmp_path / "store"))
    data = frame(1.0).iloc[::-1]  # saved out of order
    data.attrs = {"order_audit": {"order": "encounter_id"}}
    store.save(data)

    loaded = store.load()
    assert loaded["encounter_id"].tolist() == list(range(12))  # month, then id
    assert loaded["partition_date"].dtype == "datetime64[ms]"
    assert loaded.attrs == {"order_audit": {"order": "encounter_id"}}
    table = DeltaTable(str(tmp_path / "store"))
    assert table.metadata().partition_columns == ["partition_date"]
    assert (
        pa.schema(table.schema().to_arrow()).field("partition_date").type == pa.date32()
    )
    assert sorted(p.name for p in (tmp_path / "store").glob("partition_date=*")) == [
        "partition_date=2001-01-01",
        "partition_date=2001-02-01",
        "partition_date=2001-03-01",
    ]


def test_a_save_is_a_new_version_and_the_old_one_stays_readable(tmp_path):
    store = DeltaTableStore(path=str(tmp_path / "store"))
    store.save(frame(1.0))
    store.save(frame(2.0, months=5))
    assert store.version() == 1
    assert store.load()["tag"].eq(2.0).all() and len(store.load()) == 20
    assert_engines_read(str(tmp_path / "store"), store.load())
    old = DeltaTable(str(tmp_path / "store"), version=0).to_pandas()
    assert len(old) == 12 and old["tag"].eq(1.0).all()
    index = DeltaTableIndex(path=str(tmp_path / "store")).load()
    assert index["version"] == 1 and index["rows"] == 20
    assert [p["rows"] for p in index["partitions"]] == [4] * 5


def test_merge_upserts_by_key_and_rewrites_only_the_months_it_touches(tmp_path):
    store = DeltaTableStore(path=str(tmp_path / "scored"), key="encounter_id")
    store.save(frame(1.0, months=3))
    files_before = set(data_files(tmp_path / "scored"))
    again = frame(2.0, months=1, start="2001-03-01").assign(encounter_id=range(8, 12))
    store.save(again)
    store.save(again)  # rescoring the same rows is idempotent
    loaded = store.load()
    assert len(loaded) == loaded["encounter_id"].nunique() == 12
    assert loaded.loc[loaded["encounter_id"] >= 8, "tag"].eq(2.0).all()
    assert loaded.loc[loaded["encounter_id"] < 8, "tag"].eq(1.0).all()
    files_after = set(data_files(tmp_path / "scored"))
    untouched = {f for f in files_before if "2001-03-01" not in f}
    assert untouched <= files_after  # January and February were not rewritten
    assert_engines_read(str(tmp_path / "scored"), loaded)


def test_scored_extracts_are_read_from_the_predictions(tmp_path):
    path = str(tmp_path / "predictions")
    assert ScoredExtractsDataset(path=path, key="encounter_id").load() == {}
    rows = frame(1.0).assign(
        extract="2009-01.csv",
        algorithm="xgboost",
        model_version="v1",
        scored_at="2026-12-06T00:00:00+00:00",
    )
    DeltaTableStore(path=path, key="encounter_id").save(rows)
    assert ScoredExtractsDataset(path=path, key="encounter_id").load() == {
        "2009-01.csv": {
            "algorithm": "xgboost",
            "model_version": "v1",
            "rows": 12,
            "scored_at": "2026-12-06T00:00:00+00:00",
        }
    }


def test_lookup_reads_only_the_months_and_columns_asked_for(tmp_path):
    path = str(tmp_path / "store")
    assert GoldRowsLookupDataset(path=path).load() is None
    DeltaTableStore(path=path).save(frame(1.0, months=6))
    rows = GoldRowsLookupDataset(path=path).load()
    assert "tag" in rows.columns
    march_april = rows.read(
        ["encounter_id", "tag"], pd.Timestamp("2001-03-15"), pd.Timestamp("2001-04-30")
    )
    assert march_april["encounter_id"].tolist() == list(range(8, 16))
    with pytest.raises(KeyError):
        rows.read(["no_such_column"])


def test_a_damaged_data_file_is_named_with_what_to_do(tmp_path):
    store = DeltaTableStore(path=str(tmp_path / "store"))
    store.save(frame(1.0))
    victim = tmp_path / "store" / data_files(tmp_path / "store")[0]
    victim.write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match="not a readable parquet file") as error:
        store.load()
    assert "kedro run --pipelines data_processing" in str(error.value)
    victim.unlink()
    with pytest.raises(DatasetError, match="names is missing"):
        store.load()


def test_a_table_never_written_says_what_to_run(tmp_path):
    store = DeltaTableStore(path=str(tmp_path / "nothing"))
    assert not store.exists()
    with pytest.raises(DatasetError, match="never been written.*data_processing"):
        store.load()


def test_a_store_in_the_old_layout_is_refused_in_one_line(tmp_path):
    old = tmp_path / "feature_store"
    (old / "_commits").mkdir(parents=True)
    (old / "_manifest.json").write_text(json.dumps({"partitions": []}))
    with pytest.raises(DatasetError, match="old layout") as error:
        DeltaTableStore(path=str(old)).load()
    message = str(error.value)
    assert "python -m diab_readmit.storage_convert" in message
    assert "\n" not in message
