"""Preprocessed snapshots from random data with a planted signal, and small training settings.

A snapshot here has the contract's shape (see docs/architecture.md): scaled float32 model
inputs plus ``readmitted_30d``, ``encounter_id``, ``patient_nbr`` and ``partition_date`` per window, a fitted
ColumnTransformer (gold rows in, model inputs out, pandas output) and
``metadata["feature_columns"]``. ``gold_windows`` gives the gold rows it was scaled from, for
scoring tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import StandardScaler

from diab_readmit.contracts import PreprocessedSnapshot
from diab_readmit.parameter_models import TrainingConfig
from diab_readmit.pipelines.training.estimators import EstimatorSettings
from diab_readmit.pipelines.training.search import SearchSettings

SCALED = [
    "age_midpoint",
    "num_medications",
    "number_inpatient",
    "hist_prior_encounters",
]
PASSTHROUGH = ["insulin_ord", "change_flag", "gender_Female", "noise_flag"]
FEATURES = SCALED + PASSTHROUGH
WINDOWS = {
    "train": ("1999-01-01", "2005-12-31"),
    "test": ("2006-01-01", "2007-12-31"),
    "oot": ("2008-01-01", "2008-12-31"),
}


def make_gold_rows(n_rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Gold-like feature rows over 1999-2008 with a readmission signal in some columns."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("1999-01-01", "2008-12-01", freq="MS")
    partition_date = np.sort(rng.choice(months.to_numpy(), n_rows)).astype(
        "datetime64[ms]"
    )
    rows = pd.DataFrame(
        {
            "encounter_id": np.arange(n_rows, dtype=np.int64) * 3 + 100,
            "patient_nbr": rng.integers(1, n_rows, n_rows).astype(np.int64),
            "partition_date": partition_date,
            "age_midpoint": rng.choice([25.0, 45.0, 65.0, 85.0], n_rows),
            "num_medications": rng.poisson(15, n_rows).astype(float),
            "number_inpatient": rng.poisson(0.6, n_rows).astype(float),
            "hist_prior_encounters": rng.poisson(1.0, n_rows).astype(float),
            "insulin_ord": rng.integers(0, 4, n_rows).astype(float),
            "change_flag": rng.integers(0, 2, n_rows).astype(float),
            "gender_Female": rng.integers(0, 2, n_rows).astype(float),
            "noise_flag": rng.integers(0, 2, n_rows).astype(float),
        }
    )
    logit = (
        -2.6
        + 0.9 * rows["number_inpatient"]
        + 0.35 * rows["hist_prior_encounters"]
        + 0.03 * (rows["num_medications"] - 15)
        + 0.4 * rows["change_flag"] * (rows["insulin_ord"] > 1)
    )
    rows["readmitted_30d"] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(
        np.int8
    )
    for column in FEATURES:
        rows[column] = rows[column].astype(np.float32)
    return rows


def gold_windows(n_rows: int = 3000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The unscaled gold rows of each window that ``make_snapshot(n_rows, seed)`` scales."""
    gold = make_gold_rows(n_rows, seed)
    windows = {}
    for name, (start, end) in WINDOWS.items():
        inside = gold["partition_date"].between(pd.Timestamp(start), pd.Timestamp(end))
        windows[name] = gold.loc[inside].reset_index(drop=True)
    return windows


def make_snapshot(n_rows: int = 3000, seed: int = 0) -> PreprocessedSnapshot:
    """A preprocessed snapshot of ``gold_windows(n_rows, seed)``."""
    windows = gold_windows(n_rows, seed)
    scaler = ColumnTransformer(
        [("scaled", StandardScaler(), SCALED), ("encoded", "passthrough", PASSTHROUGH)],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    scaler.fit(windows["train"][FEATURES])
    scaled = {}
    for name, rows in windows.items():
        model_inputs = scaler.transform(rows).astype(np.float32)
        scaled[name] = pd.concat(
            [
                rows[
                    ["encounter_id", "patient_nbr", "partition_date", "readmitted_30d"]
                ],
                model_inputs,
            ],
            axis=1,
        )
    return PreprocessedSnapshot(
        **scaled,
        scaler=scaler,
        metadata={
            "feature_columns": list(scaler.get_feature_names_out()),
            "temporal_splits": {
                name: {"start_date": start, "end_date": end}
                for name, (start, end) in WINDOWS.items()
            },
        },
        snapshot_id=f"train_data_20260101_00000{seed % 10}",
    )


#: Small but real settings: every estimator, both search methods, seconds per algorithm.
SMALL_TRAINING_CONFIG = {"seed": 7, "cv_folds": 3, "n_candidates": 4, "n_jobs": 1}
SMALL_ALGORITHMS: dict[str, dict[str, Any]] = {
    "logistic_regression": {
        "estimator": {"name": "logistic_regression", "params": {"solver": "liblinear"}},
        "search": {
            "method": "random",
            "space": {"C": {"loguniform": [0.001, 10.0]}, "l1_ratio": [0.0, 1.0]},
        },
    },
    "random_forest": {
        "estimator": {"name": "random_forest", "params": {"n_estimators": 20}},
        "search": {
            "method": "successive_halving",
            "factor": 2,
            "space": {"max_depth": [3, 5, None], "min_samples_leaf": [1, 10, 30]},
        },
    },
    "xgboost": {
        "estimator": {
            "name": "xgboost",
            "params": {
                "n_estimators": 60,
                "early_stopping_rounds": 10,
                "validation_fraction": 0.2,
            },
        },
        "search": {
            "method": "successive_halving",
            "factor": 2,
            "search_fraction": 0.6,
            "space": {
                "learning_rate": {"loguniform": [0.05, 0.3]},
                "max_depth": {"randint": [2, 4]},
            },
        },
    },
}


def small_settings(
    algorithm: str, **config: Any
) -> tuple[TrainingConfig, EstimatorSettings, SearchSettings]:
    block = SMALL_ALGORITHMS[algorithm]
    return (
        TrainingConfig(**{**SMALL_TRAINING_CONFIG, **config}),
        EstimatorSettings(**block["estimator"]),
        SearchSettings(**block["search"]),
    )


@pytest.fixture(scope="session")
def snapshot() -> PreprocessedSnapshot:
    return make_snapshot()


@pytest.fixture
def training_project(tmp_path):
    """A scratch copy of the project holding one preprocessed snapshot and small settings.

    The snapshot is written with the project's own PreprocessedSnapshotDataset, so the runs
    load it exactly as they load one made by the preprocessing pipeline.
    """
    import yaml

    from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
    from tests.conftest import make_scratch_project

    scratch = make_scratch_project(tmp_path / "project")
    snapshots = PreprocessedSnapshotDataset(
        path=str(scratch.data / "05_model_input" / "preprocessed")
    )
    snapshots.save(make_snapshot())
    (scratch.path / "conf" / "local" / "parameters_training.yml").write_text(
        yaml.safe_dump({"training_config": SMALL_TRAINING_CONFIG, **SMALL_ALGORITHMS})
    )
    return scratch
