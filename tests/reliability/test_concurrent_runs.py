"""Two `kedro run --pipelines logistic_regression` processes started together against the same
registry (the DAG triggered twice, two ECS tasks) both register, and versions.json lists both:
no lost update. Locally and with `--env aws` against the S3 server on loopback.

Dataset-level races (12 writers in one second, threads and processes) are in
tests/datasets/test_model_registry.py; this is the same through the real CLI and catalog.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from diab_readmit.datasets.model_registry import ModelRegistryDataset
from tests.conftest import ScratchProject, make_scratch_project
from tests.reliability.conftest import s3_credentials

pytestmark = pytest.mark.slow

KEDRO = Path(sys.executable).with_name("kedro")
QUICK = (
    "training_config.n_candidates=2,training_config.cv_folds=2,training_config.n_jobs=1"
)
DATAMART, REGISTRY = "diab-concurrent-datamart", "diab-concurrent-registry"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> ScratchProject:
    """A scratch project with tiny gold stores and one preprocessed snapshot (about 12 s)."""
    project = make_scratch_project(tmp_path_factory.mktemp("concurrent") / "project")
    project.run("--pipelines", "synthetic", "--params", "synthetic.n_encounters=2000")
    project.run("--pipelines", "data_processing")
    project.run("--pipelines", "preprocessing")
    return project


def _start(
    project: ScratchProject, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    environment = {k: v for k, v in (env or os.environ).items() if k != "ALGORITHM"}
    environment.update(KEDRO_DISABLE_TELEMETRY="true", NO_COLOR="1", COLUMNS="250")
    return subprocess.Popen(
        [
            str(KEDRO),
            "run",
            "--pipelines",
            "logistic_regression",
            "--params",
            QUICK,
            *args,
        ],
        cwd=project.path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _both_finish(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output[-6000:]


def _assert_both_listed(
    path: str, credentials: dict | None, index: dict, before: list[str]
) -> None:
    registry = ModelRegistryDataset(path=path, credentials=credentials)
    committed = registry.committed_versions()
    new = [v for v in committed if v not in before]
    assert len(new) == 2, f"two runs, two new versions: {committed}"
    assert [entry["id"] for entry in index["versions"]] == committed, (
        "no lost update in versions.json"
    )
    assert index["latest"] == committed[-1]
    assert registry.load()["version_id"] == committed[-1]  # latest/ whole and verified
    for version in committed:
        pinned = ModelRegistryDataset(
            path=path, pinned_version=version, credentials=credentials
        )
        assert pinned.load()["metadata"]["version_id"] == version


def test_two_local_runs_of_the_same_algorithm_both_register(project):
    root = project.data / "06_models" / "model_registry" / "logistic_regression"
    before = ModelRegistryDataset(path=str(root)).committed_versions()
    _both_finish([_start(project), _start(project)])
    _assert_both_listed(
        str(root), None, json.loads((root / "versions.json").read_text()), before
    )


def test_two_runs_on_s3_of_the_same_algorithm_both_register(project, loopback):
    loopback.create_buckets(DATAMART, REGISTRY)
    s3 = loopback.client("s3")
    # The snapshot preprocessing made locally, where `--env aws` looks for it.
    preprocessed = project.data / "05_model_input" / "preprocessed"
    snapshot_id = (preprocessed / "latest.txt").read_text().strip()
    for file in [*(preprocessed / snapshot_id).iterdir(), preprocessed / "latest.txt"]:
        key = f"gold/preprocessed/{file.relative_to(preprocessed).as_posix()}"
        s3.put_object(Bucket=DATAMART, Key=key, Body=file.read_bytes())

    environment = loopback.environment()
    environment.update(
        DIAB_DATAMART_BUCKET=DATAMART, DIAB_MODEL_REGISTRY_BUCKET=REGISTRY
    )
    _both_finish([_start(project, "--env", "aws", env=environment) for _ in range(2)])

    index = json.loads(loopback.read(REGISTRY, "logistic_regression/versions.json"))
    _assert_both_listed(
        f"s3://{REGISTRY}/logistic_regression",
        s3_credentials(loopback),
        index,
        before=[],
    )
    assert all(entry["snapshot_id"] == snapshot_id for entry in index["versions"])


def test_concurrent_snapshot_saves_in_the_same_second_on_s3_never_share_a_folder(
    loopback, monkeypatch
):
    """Two preprocessing runs at once on S3, where there is no directory to create atomically:
    each save claims its own folder, so neither mixes files into the other's snapshot."""
    import threading
    import uuid

    from diab_readmit.datasets import preprocessed_snapshot
    from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
    from tests.datasets.test_preprocessed_snapshot import _FrozenClock, _snapshot

    monkeypatch.setattr(preprocessed_snapshot, "datetime", _FrozenClock)
    bucket = f"snapshots-{uuid.uuid4().hex[:8]}"
    loopback.create_buckets(bucket)
    path, credentials = f"s3://{bucket}/gold/preprocessed", s3_credentials(loopback)
    barrier = threading.Barrier(3)

    def save(offset: float) -> None:
        barrier.wait()
        PreprocessedSnapshotDataset(path=path, credentials=credentials).save(
            _snapshot(offset)
        )

    threads = [threading.Thread(target=save, args=(float(i),)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = PreprocessedSnapshotDataset(path=path, credentials=credentials).snapshot_ids()
    assert len(ids) == 3 and all(
        i.startswith("train_data_20250102_030405") for i in ids
    ), ids
    offsets = sorted(
        PreprocessedSnapshotDataset(path=path, snapshot_id=i, credentials=credentials)
        .load()
        .metadata["offset"]
        for i in ids  # each loads whole: its sha256s match, no file of another save mixed in
    )
    assert offsets == [0.0, 1.0, 2.0]
    assert not [k for k in loopback.keys(bucket) if "_claim-" in k], (
        "claims are removed once complete"
    )
