"""Stores of the old layout (before Delta Lake) are converted in place by one command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from diab_readmit.datasets.delta_store import store_pair
from tests.analyst_engines import assert_engines_read
from tests.conftest import make_scratch_project


def write_old_layout(store: Path, frame: pd.DataFrame, attrs: dict) -> None:
    """A store as the old commit protocol left it: part files per month, _manifest.json."""
    partitions = []
    for month, rows in frame.groupby("partition_date"):
        name = f"partition_date={month:%Y-%m-%d}"
        (store / name).mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pandas(rows, preserve_index=False),
            store / name / "part-g20261201_000000.parquet",
        )
        partitions.append(
            {
                "partition": name,
                "file": f"{name}/part-g20261201_000000.parquet",
                "rows": len(rows),
            }
        )
    (store / "_commits").mkdir()
    manifest = {
        "commit_id": "g20261201_000000",
        "partitions": partitions,
        "attrs": attrs,
    }
    (store / "_manifest.json").write_text(json.dumps(manifest))


def test_old_layout_gold_stores_are_converted_in_place(tmp_path):
    project = make_scratch_project(tmp_path / "project")
    gold = project.data / "04_feature"
    dates = pd.date_range("2001-01-01", periods=3, freq="MS").repeat(5)
    features = pd.DataFrame(
        {
            "encounter_id": range(15),
            "partition_date": dates.astype("datetime64[ms]"),
            "age_midpoint": 55.0,
        }
    )
    labels = features[["encounter_id", "partition_date"]].assign(readmitted_30d=0)
    write_old_layout(gold / "feature_store", features, {"order_audit": {"ok": True}})
    write_old_layout(gold / "label_store", labels, {})

    command = [sys.executable, "-m", "diab_readmit.storage_convert"]
    result = subprocess.run(
        command, check=False, cwd=project.path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("converted") == 2

    feature_store, label_store = store_pair(
        str(gold / "feature_store"), str(gold / "label_store")
    )
    pd.testing.assert_frame_equal(feature_store.load(), features)
    assert feature_store.load().attrs == {"order_audit": {"ok": True}}
    pd.testing.assert_frame_equal(label_store.load(), labels)
    assert_engines_read(str(gold / "feature_store"), features)
    assert (gold / "feature_store.pre-delta" / "_manifest.json").exists()
    again = subprocess.run(
        command, check=False, cwd=project.path, capture_output=True, text=True
    )
    assert again.stdout.strip().splitlines()[-1] == "Nothing to convert."
