"""What a run promises about itself (issue 13): it trains, evaluates and registers on ONE
snapshot (failure 1); it refuses an unwritable local output before its first node; SIGTERM
stops its worker processes and says what was interrupted.

On 7354d97: each node re-read latest.txt, a read-only registry failed only after training
(with S3 advice), and SIGTERM orphaned the joblib workers and resource trackers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
from tests.conftest import ScratchProject, make_scratch_project
from tests.datasets.test_preprocessed_snapshot import _snapshot

pytestmark = pytest.mark.slow

KEDRO = Path(sys.executable).with_name("kedro")
QUICK = (
    "training_config.n_candidates=2,training_config.cv_folds=2,training_config.n_jobs=1"
)


def test_a_pinned_dataset_returns_one_snapshot_for_the_whole_run(backend):
    dataset = PreprocessedSnapshotDataset(
        path=backend.path("preprocessed"), credentials=backend.credentials
    )
    dataset.save(_snapshot(0.0))
    first = dataset.load().snapshot_id
    dataset.save(_snapshot(1.0))
    second = dataset.load().snapshot_id

    dataset.pin_for_run()
    assert dataset.load().snapshot_id == second
    backend.write(
        f"{first}\n".encode(), "preprocessed", "latest.txt"
    )  # another run moves it
    assert dataset.load().snapshot_id == second, (
        "every node of the run sees the same snapshot"
    )
    dataset.unpin()
    assert dataset.load().snapshot_id == first, (
        "outside a run, latest.txt is read each time"
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> ScratchProject:
    """Tiny gold stores and two snapshots with different test windows (B is latest)."""
    project = make_scratch_project(tmp_path_factory.mktemp("guards") / "project")
    project.run("--pipelines", "synthetic", "--params", "synthetic.n_encounters=3000")
    project.run("--pipelines", "data_processing")
    project.run(
        "--pipelines",
        "preprocessing",
        "--params",
        "temporal_splits.test.end_date=2006-12-31",
    )
    project.run("--pipelines", "preprocessing")
    return project


def _popen(project: ScratchProject, *args: str) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if k != "ALGORITHM"}
    environment.update(KEDRO_DISABLE_TELEMETRY="true", NO_COLOR="1", COLUMNS="250")
    return subprocess.Popen(
        [str(KEDRO), "run", *args],
        cwd=project.path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_latest_txt_moved_during_training_does_not_mix_snapshots(project):
    preprocessed = project.data / "05_model_input" / "preprocessed"
    older, newer = PreprocessedSnapshotDataset(path=str(preprocessed)).snapshot_ids()[
        -2:
    ]
    (preprocessed / "latest.txt").write_text(f"{newer}\n")
    process = _popen(project, "--pipelines", "logistic_regression", "--params", QUICK)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Loaded preprocessed snapshot" in line:  # the first node has its snapshot
            (preprocessed / "latest.txt").write_text(
                f"{older}\n"
            )  # as a preprocessing run does
            break
    output = "".join(lines) + process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-5000:]

    registry = project.data / "06_models" / "model_registry" / "logistic_regression"
    version = json.loads((registry / "versions.json").read_text())["latest"]
    metadata = json.loads((registry / version / "metadata.json").read_text())
    trained_on = json.loads((preprocessed / newer / "metadata.json").read_text())
    assert metadata["snapshot_id"] == newer
    assert metadata["temporal_splits"] == trained_on["temporal_splits"]
    test_rows = (
        PreprocessedSnapshotDataset(path=str(preprocessed), snapshot_id=newer)
        .load()
        .test
    )
    assert metadata["test_samples"] == len(test_rows), (
        "evaluated on the snapshot it was refitted on"
    )
    assert f"Loaded preprocessed snapshot {older}" not in output


def test_an_unwritable_local_registry_stops_the_run_before_the_first_node(tmp_path):
    project = make_scratch_project(tmp_path / "project")
    project.run("--pipelines", "synthetic", "--params", "synthetic.n_encounters=2000")
    project.run("--pipelines", "data_processing")
    project.run("--pipelines", "preprocessing")
    # A file where the registry folder should be: unwritable for every user, root included
    # (a read-only folder, as the issue found, is writable for root).
    (project.data / "06_models" / "model_registry").write_text("not a folder")
    started = time.monotonic()
    result = project.run(
        "--pipelines", "logistic_regression", "--params", QUICK, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Running node" not in output, "refused before any training"
    assert "model_registry" in output and "is in the way of a folder" in output
    assert "bucket" not in output and "IAM" not in output and "s3:" not in output
    assert time.monotonic() - started < 60


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc (children of children included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {
            child for child, parent in parents.items() if parent in frontier
        } - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def test_sigterm_during_a_search_stops_the_workers_and_says_nothing_was_registered(
    project,
):
    registry = project.data / "06_models" / "model_registry" / "random_forest"
    before = sorted(p.name for p in registry.glob("v*")) if registry.exists() else []
    slow = "training_config.n_candidates=30,training_config.cv_folds=5,training_config.n_jobs=2"
    process = _popen(project, "--pipelines", "random_forest", "--params", slow)
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while (
        len(workers) < 2 and time.monotonic() < deadline
    ):  # the search's workers are up
        assert process.poll() is None, process.communicate()[0][-4000:]
        workers = _descendants(process.pid)
        time.sleep(0.2)
    assert len(workers) >= 2, "the search never started its worker processes"
    time.sleep(1.0)
    workers = _descendants(process.pid)

    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 128 + signal.SIGTERM, output[-4000:]
    assert (
        "SIGTERM received" in output
        and "during node random_forest.tune_hyperparameters" in output
    )
    assert "nothing was registered" in output
    deadline = time.monotonic() + 15
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(workers), f"left running after SIGTERM: {sorted(_alive(workers))}"
    after = sorted(p.name for p in registry.glob("v*")) if registry.exists() else []
    assert [
        v
        for v in after
        if v not in before and (registry / v / "metadata.json").exists()
    ] == []
