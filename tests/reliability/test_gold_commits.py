"""The two gold stores commit together or not at all, and the scored stores lose nothing to
concurrent scorers: what the project loads, and what deltalake, DuckDB and Polars read,
after failed, killed and concurrent runs. Locally and on the S3 server on loopback.

Issue 13 (failures 2 and 3) and issue 24: a run whose feature store failed validation left
its labels as the label store's own commit; readers other than the project's counted rows
twice.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from diab_readmit.datasets import table_pairs
from diab_readmit.datasets.delta_access import storage_options
from diab_readmit.datasets.delta_store import store_pair
from tests.analyst_engines import READERS, assert_engines_read
from tests.conftest import PROJECT
from tests.pipelines.data_processing.test_pipeline import _small_raw
from tests.reliability.conftest import Backend


def _pair(backend: Backend, **options):
    return store_pair(
        backend.path("feature_store"),
        backend.path("label_store"),
        credentials=backend.credentials,
        **options,
    )


def _options(backend: Backend) -> dict[str, str]:
    return storage_options(backend.root + "/x", backend.credentials)


def _frame(tag: float, months: int = 3) -> pd.DataFrame:
    dates = pd.date_range("2001-01-01", periods=months, freq="MS").repeat(4)
    return pd.DataFrame(
        {
            "encounter_id": range(len(dates)),
            "partition_date": dates.astype("datetime64[ms]"),
            "tag": tag,
        }
    )


def _engines_read_only(backend: Backend, store: str, tag: float, rows: int) -> None:
    for name, reader in READERS.items():
        read = reader(backend.path(store), _options(backend))
        assert len(read) == rows and set(read["tag"]) == {tag}, (name, store)


def test_a_run_that_saves_only_one_store_changes_neither(backend):
    features, labels = _pair(backend)
    table_pairs.start_new_run()
    features.save(_frame(1.0))
    labels.save(_frame(1.0))

    table_pairs.start_new_run()  # the next run: its feature store fails validation, unsaved
    labels.save(_frame(2.0, months=5))
    assert table_pairs.unpaired_saves() == [backend.path("label_store")]
    table_pairs.start_new_run()
    for store in (features, labels):
        assert store.load()["tag"].eq(1.0).all() and len(store.load()) == 12
    for store in ("feature_store", "label_store"):
        _engines_read_only(backend, store, 1.0, 12)

    table_pairs.start_new_run()  # a good run commits both, features first
    labels.save(_frame(3.0))
    features.save(_frame(3.0))
    assert features.load()["tag"].eq(3.0).all() and labels.load()["tag"].eq(3.0).all()
    assert_engines_read(backend.path("label_store"), labels.load(), _options(backend))
    assert_engines_read(
        backend.path("feature_store"), features.load(), _options(backend)
    )


_KILLED = r"""
import json, os, signal, sys
import pandas as pd
from diab_readmit.datasets import table_pairs
from diab_readmit.datasets.delta_store import store_pair

features, labels, credentials = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
feature_store, label_store = store_pair(features, labels, credentials=credentials)
dates = pd.date_range("2001-01-01", periods=3, freq="MS").repeat(4)
frame = pd.DataFrame({"encounter_id": range(12),
                      "partition_date": dates.astype("datetime64[ms]"), "tag": 2.0})
real_commit = label_store._commit
def die(*args, **kwargs):  # the features are committed; the labels are next
    os.kill(os.getpid(), signal.SIGKILL)
label_store._commit = die
table_pairs.start_new_run()
feature_store.save(frame)
label_store.save(frame)
"""


def test_killed_between_the_two_commits_reads_as_before(backend):
    features, labels = _pair(backend)
    table_pairs.start_new_run()
    features.save(_frame(1.0))
    labels.save(_frame(1.0))

    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLED,
            backend.path("feature_store"),
            backend.path("label_store"),
            json.dumps(backend.credentials),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    table_pairs.start_new_run()
    assert labels.load()["tag"].eq(1.0).all()
    assert features.load()["tag"].eq(1.0).all()  # the version the label store names
    assert features.versions() == {
        features._identity: 0,
        labels._identity: 0,
    }
    # Delta readers: the label store never shows the killed run's labels.
    _engines_read_only(backend, "label_store", 1.0, 12)


_WRITER = r"""
import json, sys
import pandas as pd
from diab_readmit.datasets import table_pairs
from diab_readmit.datasets.delta_store import store_pair

features, labels, credentials, writer = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
stores = store_pair(features, labels, credentials=credentials)
for run in range(int(sys.argv[5])):
    table_pairs.start_new_run()
    tag = writer * 100 + run
    dates = pd.date_range("2001-01-01", periods=12, freq="MS").repeat(5)
    frame = pd.DataFrame({"encounter_id": range(len(dates)),
                          "partition_date": dates.astype("datetime64[ms]"), "tag": float(tag)})
    for store in stores[:: 1 if run % 2 else -1]:  # either order, as Kedro may save them
        store.save(frame)
    print("committed", tag, flush=True)
"""


def _writer(backend: Backend, number: int, runs: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            _WRITER,
            backend.path("feature_store"),
            backend.path("label_store"),
            json.dumps(backend.credentials),
            str(number),
            str(runs),
        ],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _pair_is_one_runs(backend: Backend) -> float:
    """The project reads features and labels of one run; returns its tag."""
    features, labels = _pair(backend)
    table_pairs.start_new_run()
    loaded_features, loaded_labels = features.load(), labels.load()
    assert len(loaded_features) == len(loaded_labels) == 60
    tags = set(loaded_features["tag"]) | set(loaded_labels["tag"])
    assert len(tags) == 1, f"features and labels of one writer's run: {tags}"
    assert_engines_read(backend.path("label_store"), loaded_labels, _options(backend))
    return tags.pop()


def test_concurrent_runs_leave_both_stores_whole(backend):
    writers = [_writer(backend, number, 4) for number in (1, 2)]
    for writer in writers:
        output, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0, output[-4000:]
    _pair_is_one_runs(backend)
    # Each engine reads the features of exactly one whole run (see README: two runs whose
    # commits interleave within milliseconds may leave the newest features from the other).
    for name, reader in READERS.items():
        read = reader(backend.path("feature_store"), _options(backend))
        assert len(read) == 60 and read["tag"].nunique() == 1, name


def test_a_writer_killed_at_a_random_moment_leaves_a_readable_pair(backend):
    writer = _writer(backend, 3, 50)
    while "committed" not in (writer.stdout.readline() or "committed"):
        pass  # the first pair is in
    time.sleep(random.uniform(0.0, 1.5))
    writer.kill()
    writer.wait(timeout=60)
    tag = _pair_is_one_runs(backend)
    assert 300 <= tag < 350
    for name, reader in READERS.items():
        read = reader(backend.path("feature_store"), _options(backend))
        assert len(read) == 60 and read["tag"].nunique() == 1, name


_SCORER = r"""
import json, sys
import pandas as pd
from diab_readmit.datasets import table_pairs
from diab_readmit.datasets.delta_store import store_pair

features, predictions, credentials, first, months = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
stores = store_pair(features, predictions, key="encounter_id", credentials=credentials)
for batch in range(6):
    table_pairs.start_new_run()
    dates = pd.date_range("2009-01-01", periods=months, freq="MS").repeat(3)
    ids = range(first + 100 * batch, first + 100 * batch + len(dates))
    rows = pd.DataFrame({"encounter_id": ids, "partition_date": dates.astype("datetime64[ms]"),
                         "tag": float(first)})
    for store in stores:
        store.save(rows)
"""


def test_overlapping_scorers_both_land_and_nothing_is_lost(backend):
    paths = (backend.path("scored_features"), backend.path("predictions"))
    scorers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SCORER,
                *paths,
                json.dumps(backend.credentials),
                str(first),
                "2",
            ],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for first in (10_000, 20_000)
    ]
    for scorer in scorers:
        output, _ = scorer.communicate(timeout=300)
        assert scorer.returncode == 0, output[-4000:]

    scored_features, predictions = store_pair(
        *paths, key="encounter_id", credentials=backend.credentials
    )
    table_pairs.start_new_run()
    loaded = predictions.load()
    assert len(loaded) == loaded["encounter_id"].nunique() == 2 * 6 * 6
    assert sorted(scored_features.load()["encounter_id"]) == sorted(
        loaded["encounter_id"]
    )
    assert_engines_read(backend.path("predictions"), loaded, _options(backend))


@pytest.mark.slow
def test_failed_data_processing_run_keeps_the_label_store(scratch_project):
    """The issue's case: one age of [100-110) fails the feature store's validation while the
    readmitted values changed; neither store may change, for any reader."""
    raw_path = scratch_project.data / "01_raw" / "diabetic_data.csv"
    _small_raw().to_csv(raw_path, index=False)
    scratch_project.run("--pipelines", "data_processing")
    gold = scratch_project.data / "04_feature"
    features, labels = store_pair(
        str(gold / "feature_store"), str(gold / "label_store")
    )
    before = {"feature_store": features.load(), "label_store": labels.load()}

    bad = _small_raw().assign(readmitted="<30")
    bad.loc[0, "age"] = "[100-110)"  # row 0 is in the cohort
    bad.to_csv(raw_path, index=False)
    result = scratch_project.run("--pipelines", "data_processing", check=False)
    assert result.returncode != 0
    assert "age_midpoint" in result.stdout + result.stderr

    table_pairs.start_new_run()
    for name, store in (("feature_store", features), ("label_store", labels)):
        pd.testing.assert_frame_equal(store.load(), before[name], obj=name)
        assert_engines_read(str(gold / name), before[name])
        assert len(list((gold / name / "_delta_log").glob("*.json"))) == 1
    # And what preprocessing reads through the catalog is the same pair.
    scratch_project.run("--pipelines", "preprocessing")
