"""The two gold stores commit together or not at all, and concurrent data_processing runs never
delete what a committed manifest names. Locally and on the S3 server on loopback.

Issue 13, failures 2 and 3: on 7354d97 a run whose feature store failed validation still
rewrote the label store, and two runs at once deleted each other's part files.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pandas as pd
import pytest

from diab_readmit.datasets import gold_store
from diab_readmit.datasets.gold_store import (
    PartitionedParquetIndex,
    PartitionedParquetStore,
)
from tests.conftest import PROJECT
from tests.pipelines.data_processing.test_pipeline import _small_raw
from tests.reliability.conftest import Backend


def _pair(backend: Backend) -> tuple[PartitionedParquetStore, PartitionedParquetStore]:
    features, labels = backend.path("feature_store"), backend.path("label_store")
    return (
        PartitionedParquetStore(
            path=features, commits_with=labels, credentials=backend.credentials
        ),
        PartitionedParquetStore(
            path=labels, commits_with=features, credentials=backend.credentials
        ),
    )


def _frame(tag: float, months: int = 3) -> pd.DataFrame:
    dates = pd.date_range("2001-01-01", periods=months, freq="MS").repeat(4)
    return pd.DataFrame(
        {
            "encounter_id": range(len(dates)),
            "partition_date": dates.astype("datetime64[ms]"),
            "tag": tag,
        }
    )


def test_a_run_that_saves_only_one_store_changes_neither(backend, caplog):
    features, labels = _pair(backend)
    gold_store.start_new_run()
    features.save(_frame(1.0))
    labels.save(_frame(1.0))

    gold_store.start_new_run()  # the next run: its feature store fails validation, unsaved
    labels.save(_frame(2.0, months=5))
    with caplog.at_level(logging.WARNING, logger="diab_readmit.datasets.gold_store"):
        assert labels.load()["tag"].eq(1.0).all() and len(labels.load()) == 12
    assert "which" in caplog.text and "lacks" in caplog.text
    assert features.load()["tag"].eq(1.0).all()
    index = PartitionedParquetIndex(
        path=backend.path("label_store"),
        commits_with=backend.path("feature_store"),
        credentials=backend.credentials,
    ).load()
    assert index["rows"] == 12

    gold_store.start_new_run()  # a good run commits both
    features.save(_frame(3.0))
    labels.save(_frame(3.0))
    assert features.load()["tag"].eq(3.0).all() and labels.load()["tag"].eq(3.0).all()
    manifest = json.loads(backend.read("label_store", "_manifest.json"))
    assert (
        manifest["commit_id"]
        == json.loads(backend.read("feature_store", "_manifest.json"))["commit_id"]
    )


_WRITER = r"""
import json, sys
import pandas as pd
from diab_readmit.datasets import gold_store
from diab_readmit.datasets.gold_store import PartitionedParquetStore

features, labels, credentials, writer = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
stores = [PartitionedParquetStore(path=features, commits_with=labels, credentials=credentials),
          PartitionedParquetStore(path=labels, commits_with=features, credentials=credentials)]
for run in range(4):
    gold_store.start_new_run()
    tag = writer * 100 + run
    dates = pd.date_range("2001-01-01", periods=12, freq="MS").repeat(5)
    frame = pd.DataFrame({"encounter_id": range(len(dates)),
                          "partition_date": dates.astype("datetime64[ms]"), "tag": float(tag)})
    for store in stores:
        store.save(frame)
"""


def test_concurrent_runs_leave_both_stores_whole(backend):
    features, labels = backend.path("feature_store"), backend.path("label_store")
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER,
                features,
                labels,
                json.dumps(backend.credentials),
                str(number),
            ],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for number in (1, 2)
    ]
    for writer in writers:
        output, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0, output[-4000:]

    feature_store, label_store = _pair(backend)
    loaded_features, loaded_labels = (
        feature_store.load(),
        label_store.load(),
    )  # every file there
    assert len(loaded_features) == len(loaded_labels) == 60
    tags = set(loaded_features["tag"]) | set(loaded_labels["tag"])
    assert len(tags) == 1, (
        f"features and labels of one commit, of one writer's run: {tags}"
    )
    manifest = feature_store.read_manifest()
    for partition in manifest["partitions"]:
        assert backend.read("feature_store", partition["file"]) is not None


@pytest.mark.slow
def test_failed_data_processing_run_keeps_the_label_store(scratch_project):
    """The issue's case: one age of [100-110) fails the feature store's validation while the
    readmitted values changed; the label store must not change."""
    raw_path = scratch_project.data / "01_raw" / "diabetic_data.csv"
    _small_raw().to_csv(raw_path, index=False)
    scratch_project.run("--pipelines", "data_processing")
    stores = {
        name: PartitionedParquetStore(
            path=str(scratch_project.data / "04_feature" / name),
            commits_with=str(scratch_project.data / "04_feature" / other),
        )
        for name, other in (
            ("feature_store", "label_store"),
            ("label_store", "feature_store"),
        )
    }
    before = {name: store.load() for name, store in stores.items()}

    bad = _small_raw().assign(readmitted="<30")
    bad.loc[0, "age"] = "[100-110)"  # row 0 is in the cohort
    bad.to_csv(raw_path, index=False)
    result = scratch_project.run("--pipelines", "data_processing", check=False)
    assert result.returncode != 0
    assert "age_midpoint" in result.stdout + result.stderr

    for name, store in stores.items():
        pd.testing.assert_frame_equal(store.load(), before[name], obj=name)
    # And what preprocessing reads through the catalog is the same pair.
    scratch_project.run("--pipelines", "preprocessing")
