"""The documented cleanup (``python -m diab_readmit.storage_cleanup``): files of old Delta
versions that no snapshot names (issue 24), folders of killed saves older than an age
(issue 13), and snapshots no registered version was trained on, keeping the newest N
(issue 17, item 7). Locally and on the S3 server on loopback."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
from deltalake import DeltaTable

from diab_readmit.datasets import table_pairs
from diab_readmit.datasets.commit_protocol import CLAIM
from diab_readmit.datasets.delta_access import storage_options
from diab_readmit.datasets.delta_store import DeltaTableStore, store_pair
from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
from diab_readmit.storage_cleanup import vacuum_table
from tests.conftest import make_scratch_project
from tests.datasets.test_model_registry import _bundle
from tests.datasets.test_preprocessed_snapshot import _snapshot
from tests.reliability.conftest import Backend


def _gold(tag: float) -> pd.DataFrame:
    dates = pd.date_range("2001-01-01", periods=3, freq="MS").repeat(2)
    return pd.DataFrame(
        {
            "encounter_id": range(6),
            "partition_date": dates.astype("datetime64[ms]"),
            "tag": tag,
        }
    )


def test_vacuum_keeps_the_versions_named_and_the_current_one(backend):
    store = DeltaTableStore(
        path=backend.path("feature_store"), credentials=backend.credentials
    )
    for tag in range(4):
        store.save(_gold(float(tag)))  # versions 0..3
    orphan = "partition_date=2001-01-01/part-killed-before-its-commit.parquet"
    backend.write(b"half a file", "feature_store", orphan)
    options = storage_options(backend.path("x"), backend.credentials)

    def readable(version: int) -> bool:
        try:
            DeltaTable(
                backend.path("feature_store"), version=version, storage_options=options
            ).to_pandas()
        except OSError:
            return False
        return True

    dry = vacuum_table(store, {1}, timedelta(0), dry_run=True)
    assert any(orphan in line for line in dry) and all(readable(v) for v in range(4))
    done = vacuum_table(store, {1}, timedelta(0), dry_run=False)
    assert sorted(done) == sorted(
        line.replace("would delete", "deleted") for line in dry
    )
    assert [readable(v) for v in range(4)] == [False, True, False, True]
    assert backend.read("feature_store", orphan) is None
    # A retention longer than the files' age keeps everything.
    store.save(_gold(4.0))
    assert vacuum_table(store, set(), timedelta(days=7), dry_run=False) == []
    assert readable(3) and readable(4)


def _killed_save(dataset, backend: Backend, folder: str, claimed: datetime) -> str:
    """What a save killed right after its claim leaves: an id folder with a claim only."""
    commit_id = dataset._commits.claim(claimed)
    assert backend.read(folder, commit_id, CLAIM) is not None
    return commit_id


def test_incomplete_folders_older_than_the_age_are_removed_younger_ones_kept(backend):
    snapshots = PreprocessedSnapshotDataset(
        path=backend.path("preprocessed"), credentials=backend.credentials
    )
    snapshots.save(_snapshot(0.0))
    now = datetime.now(UTC)
    old = _killed_save(snapshots, backend, "preprocessed", now - timedelta(hours=3))
    young = _killed_save(snapshots, backend, "preprocessed", now - timedelta(minutes=5))
    assert snapshots.incomplete_snapshots() == [old, young]

    assert snapshots.remove_incomplete(timedelta(hours=1), dry_run=True) == [
        backend.path("preprocessed", old)
    ]
    assert snapshots.incomplete_snapshots() == [old, young], "a dry run deletes nothing"
    assert snapshots.remove_incomplete(timedelta(hours=1)) == [
        backend.path("preprocessed", old)
    ]
    assert snapshots.incomplete_snapshots() == [young]
    assert (
        len(snapshots.snapshot_ids()) == 1
        and snapshots.load().metadata["offset"] == 0.0
    )

    registry = ModelRegistryDataset(
        path=backend.path("registry", "xgboost"), credentials=backend.credentials
    )
    registry.save(_bundle(0.7))
    stale = _killed_save(registry, backend, "registry/xgboost", now - timedelta(days=2))
    assert registry.remove_incomplete(timedelta(days=1)) == [
        backend.path("registry", "xgboost", stale)
    ]
    assert (
        registry.incomplete_versions() == [] and len(registry.committed_versions()) == 1
    )


def test_unused_snapshots_go_the_newest_n_and_the_ones_models_were_trained_on_stay(
    backend,
):
    snapshots = PreprocessedSnapshotDataset(
        path=backend.path("preprocessed"), credentials=backend.credentials
    )
    for offset in range(5):
        snapshots.save(_snapshot(float(offset)))
    ids = snapshots.snapshot_ids()
    trained_on = {ids[1]}

    assert snapshots.remove_unused(trained_on, keep_newest=2, dry_run=True) == [
        ids[0],
        ids[2],
    ]
    assert snapshots.snapshot_ids() == ids
    assert snapshots.remove_unused(trained_on, keep_newest=2) == [ids[0], ids[2]]
    assert snapshots.snapshot_ids() == [ids[1], ids[3], ids[4]]
    assert not backend.files("preprocessed", ids[0])
    for snapshot_id in (ids[1], ids[3], ids[4]):  # the rest still loads whole
        pinned = PreprocessedSnapshotDataset(
            path=backend.path("preprocessed"),
            snapshot_id=snapshot_id,
            credentials=backend.credentials,
        )
        assert pinned.load().snapshot_id == snapshot_id
    # latest.txt's snapshot is kept even with keep_newest=0
    assert snapshots.remove_unused(set(), keep_newest=0) == [ids[1], ids[3]]
    assert (
        snapshots.snapshot_ids() == [ids[4]] and snapshots.load().snapshot_id == ids[4]
    )


def test_the_command_cleans_the_stores_of_the_catalog(tmp_path):
    project = make_scratch_project(tmp_path / "project")
    preprocessed = project.data / "05_model_input" / "preprocessed"
    snapshots = PreprocessedSnapshotDataset(path=str(preprocessed))
    for offset in range(3):
        snapshots.save(_snapshot(float(offset)))
    ids = snapshots.snapshot_ids()
    registry = ModelRegistryDataset(
        path=str(project.data / "06_models" / "model_registry" / "xgboost")
    )
    registry.save(
        {
            **_bundle(0.7),
            "metadata": {**_bundle(0.7)["metadata"], "snapshot_id": ids[0]},
        }
    )
    killed = snapshots._commits.claim(datetime.now(UTC) - timedelta(hours=5))
    gold = project.data / "04_feature"
    features, labels = store_pair(
        str(gold / "feature_store"), str(gold / "label_store")
    )
    for tag in range(3):
        table_pairs.start_new_run()
        features.save(_gold(float(tag)))
        labels.save(_gold(float(tag)))

    command = [
        sys.executable,
        "-m",
        "diab_readmit.storage_cleanup",
        "--older-than",
        "2h",
        "--keep-snapshots",
        "1",
        "--vacuum",
        "--retention",
        "0s",
    ]
    dry = subprocess.run(
        [*command, "--dry-run"],
        cwd=project.path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert (
        f"would delete incomplete save in the preprocessed snapshots: {preprocessed / killed}"
        in dry.stdout
    )
    assert f"would delete unused snapshot {preprocessed / ids[1]}" in dry.stdout
    assert dry.stdout.count(f"would delete {gold / 'feature_store'}/") == 6
    assert snapshots.snapshot_ids() == ids

    done = subprocess.run(
        command,
        cwd=project.path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        snapshots.snapshot_ids() == [ids[0], ids[2]]
        and snapshots.incomplete_snapshots() == []
    )
    table_pairs.start_new_run()
    assert features.load()["tag"].eq(2.0).all() and labels.load()["tag"].eq(2.0).all()
    assert len(list((gold / "feature_store").rglob("*.parquet"))) == 3

    wrong = subprocess.run(
        [*command[:3], "--older-than", "soon"],
        cwd=project.path,
        check=False,
        capture_output=True,
        text=True,
    )
    assert (
        wrong.returncode == 2
        and "'soon' is not an age: write e.g. 45m, 2h or 7d" in wrong.stderr
    )
