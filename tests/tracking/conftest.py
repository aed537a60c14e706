"""A scratch project with one snapshot and small training settings, trained once with
tracking on (the project's default: SQLite under data/09_tracking)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ScratchProject, make_scratch_project
from tests.pipelines.training.conftest import (
    SMALL_ALGORITHMS,
    SMALL_TRAINING_CONFIG,
    make_snapshot,
)


def small_training_project(root: Path) -> ScratchProject:
    from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset

    scratch = make_scratch_project(root)
    PreprocessedSnapshotDataset(
        path=str(scratch.data / "05_model_input" / "preprocessed")
    ).save(make_snapshot())
    (scratch.path / "conf" / "local" / "parameters_training.yml").write_text(
        yaml.safe_dump({"training_config": SMALL_TRAINING_CONFIG, **SMALL_ALGORITHMS})
    )
    return scratch


def tracking_uri(project: ScratchProject) -> str:
    return f"sqlite:///{project.data / '09_tracking' / 'mlflow.db'}"


@pytest.fixture(scope="session")
def tracked_project(tmp_path_factory) -> ScratchProject:
    """``kedro run --pipelines training`` (three algorithms) with tracking on."""
    project = small_training_project(tmp_path_factory.mktemp("tracked") / "project")
    result = project.run("--pipelines", "training")
    assert "MLflow tracking at" not in result.stdout + result.stderr
    return project
