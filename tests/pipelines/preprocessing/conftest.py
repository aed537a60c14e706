"""Hand-made gold stores and a scratch copy of the project to run preprocessing in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from diab_readmit.datasets.delta_store import store_pair
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
from diab_readmit.datasets.table_pairs import start_new_run
from tests.conftest import PROJECT, ScratchProject, make_scratch_project

PARAMETERS = yaml.safe_load(
    (PROJECT / "conf" / "base" / "parameters_preprocessing.yml").read_text()
)
#: The project's configured columns to scale; the hand-made stores provide all of them.
SCALED = PARAMETERS["preprocessing"]["numeric_features_to_scale"]
PASSTHROUGH = [
    "hist_last_readmit_30d",
    "race_Caucasian",
    "gender_Female",
    "a1c_ord",
    "change_flag",
]


def make_gold(
    first_month: str = "1999-01-01",
    last_month: str = "2008-12-01",
    rows_per_month: int = 10,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gold feature and label stores in the contract's shape, ``rows_per_month`` a month.

    The first encounter of every month is readmitted, so every window has positives.
    """
    rng = np.random.default_rng(seed)
    months = pd.date_range(first_month, last_month, freq="MS")
    n = len(months) * rows_per_month
    partition_date = np.repeat(months.to_numpy(), rows_per_month).astype(
        "datetime64[ms]"
    )
    encounter_date = partition_date + rng.integers(0, 28, n).astype("timedelta64[D]")
    features = pd.DataFrame(
        {
            "encounter_id": np.arange(n, dtype=np.int64) * 7 + 1000,
            "patient_nbr": rng.integers(1, n // 2, n).astype(np.int64),
            "encounter_date": encounter_date,
            "partition_date": partition_date,
            "diag_1": pd.array(rng.choice(["428", "250.83", "V57"], n), dtype="string"),
            "diag_2": pd.array(rng.choice(["414", "?"], n), dtype="string"),
            "diag_3": pd.array(rng.choice(["250", "401"], n), dtype="string"),
        }
    )
    # Non-negative like the real counts, and drifting over the years, so statistics of the
    # train window differ from those of all rows.
    drift = np.repeat(np.arange(len(months)) / 12, rows_per_month)
    for number, column in enumerate(SCALED):
        features[column] = np.abs(
            rng.normal(number + 5 + drift, 1 + number % 3, n)
        ).astype(np.float32)
    for column in PASSTHROUGH:
        features[column] = rng.integers(0, 3, n).astype(np.float32)
    readmitted = (rng.random(n) < 0.12).astype(np.int8)
    readmitted[::rows_per_month] = 1
    labels = pd.DataFrame(
        {
            "encounter_id": features["encounter_id"].to_numpy(),
            "partition_date": partition_date,
            "readmitted_30d": readmitted,
        }
    )
    return features, labels


@dataclass
class PreprocessingProject:
    """A scratch project whose `data_root` is absolute, run in-process with a KedroSession."""

    scratch: ScratchProject

    @property
    def feature_store(self) -> Path:
        return self.scratch.data / "04_feature" / "feature_store"

    @property
    def label_store(self) -> Path:
        return self.scratch.data / "04_feature" / "label_store"

    @property
    def preprocessed(self) -> Path:
        return self.scratch.data / "05_model_input" / "preprocessed"

    def write_gold(self, features: pd.DataFrame, labels: pd.DataFrame) -> None:
        feature_store, label_store = store_pair(
            str(self.feature_store), str(self.label_store)
        )
        start_new_run()  # both stores committed together, as one data_processing run does
        feature_store.save(features)
        label_store.save(labels)

    def run(self, runtime_params: dict[str, Any] | None = None) -> dict[str, Any]:
        bootstrap_project(self.scratch.path)
        with KedroSession.create(
            self.scratch.path, runtime_params=runtime_params
        ) as session:
            return session.run(pipeline_names=["preprocessing"])

    def catalog(self, runtime_params: dict[str, Any] | None = None):
        bootstrap_project(self.scratch.path)
        with KedroSession.create(
            self.scratch.path, runtime_params=runtime_params
        ) as session:
            return session.load_context().catalog

    def snapshots(self, snapshot_id: str | None = None) -> PreprocessedSnapshotDataset:
        return PreprocessedSnapshotDataset(
            path=str(self.preprocessed), snapshot_id=snapshot_id
        )


@pytest.fixture
def project(tmp_path) -> PreprocessingProject:
    scratch = make_scratch_project(tmp_path / "project")
    # Absolute paths, so an in-process session never writes under the current directory.
    # Globals interpolate within their own file, so the local env restates the whole file.
    globals_text = (scratch.path / "conf" / "base" / "globals.yml").read_text()
    (scratch.path / "conf" / "local" / "globals.yml").write_text(
        globals_text.replace("data_root: data", f"data_root: {scratch.data}")
    )
    training = scratch.path / "conf" / "base" / "parameters_training.yml"
    if not training.exists():  # until the training pipeline lands: its defaults
        training.write_text("training_config: {}\n")
    return PreprocessingProject(scratch)
