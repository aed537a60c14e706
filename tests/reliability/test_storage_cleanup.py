"""The documented cleanup (``python -m diab_readmit.storage_cleanup``): folders of killed saves
older than an age (issue 13), and snapshots no registered version was trained on, keeping
the newest N (issue 17, item 7). Locally and on the S3 server on loopback."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from diab_readmit.datasets.commit_protocol import CLAIM
from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
from tests.conftest import make_scratch_project
from tests.datasets.test_model_registry import _bundle
from tests.datasets.test_preprocessed_snapshot import _snapshot
from tests.reliability.conftest import Backend


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

    command = [
        sys.executable,
        "-m",
        "diab_readmit.storage_cleanup",
        "--older-than",
        "2h",
        "--keep-snapshots",
        "1",
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
