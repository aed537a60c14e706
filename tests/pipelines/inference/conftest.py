"""A raw file, new extracts and a registered champion that scores gold rows: small and real.

The champion is a scikit-learn ``Pipeline(ColumnTransformer, LogisticRegression)`` fitted on
gold rows that data_processing's own nodes built from a synthetic raw file, registered with
the project's ModelRegistryDataset: the shape every trained model has.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline as SklearnPipeline
from sklearn.preprocessing import StandardScaler

from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.pipelines.data_processing.parameter_models import (
    CohortParams,
    EncounterDatesParams,
    OrderAuditParams,
)
from diab_readmit.pipelines.inference.features import (
    build_scoring_features,
    date_extract,
)
from diab_readmit.pipelines.synthetic.nodes import generate_encounters
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams

SCALED = [
    "age_midpoint",
    "number_inpatient",
    "num_medications",
    "hist_prior_encounters",
]
PASSTHROUGH = ["insulin_ord", "hist_prior_readmit_30d", "discharge_home"]


def raw_file(n: int = 2000, seed: int = 5) -> pd.DataFrame:
    """A synthetic raw extract in the UCI format, all text as the catalog reads it."""
    raw = generate_encounters(SyntheticParams(n_encounters=n, seed=seed))
    return raw.astype(str)


def new_extract(raw: pd.DataFrame, rows: slice, id_offset: int) -> pd.DataFrame:
    """Encounters of patients of ``raw`` (fresh encounter ids), outcome unknown."""
    extract = raw.iloc[rows].copy()
    extract["encounter_id"] = (extract["encounter_id"].astype(int) + id_offset).astype(
        str
    )
    return extract.drop(columns="readmitted")


def fit_champion(raw: pd.DataFrame) -> dict:
    """A bundle whose model scores gold rows, fitted on the raw file's own gold rows."""
    gold = build_scoring_features(
        None,
        _dated_as_extract(raw),
        EncounterDatesParams(),
        OrderAuditParams(),
        CohortParams(),
        "raw",
    )
    scaler = ColumnTransformer(
        [("scaled", StandardScaler(), SCALED), ("encoded", "passthrough", PASSTHROUGH)],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    y = (np.random.default_rng(0).random(len(gold)) < 0.12).astype(int)
    model = SklearnPipeline(
        [("preprocess", scaler), ("classifier", LogisticRegression(max_iter=300))]
    ).fit(gold[SCALED + PASSTHROUGH], y)
    metadata = {
        "model_name": "logistic_regression",
        "feature_columns": [str(c) for c in scaler.get_feature_names_out()],
        "performance": {"test": {"auc_roc": 0.7}, "oot": {"auc_roc": 0.69}},
        "threshold": 0.12,
        "snapshot_id": "train_data_20260101_000000",
    }
    return {"model": model, "metadata": metadata, "plots": {}}


def _dated_as_extract(raw: pd.DataFrame) -> pd.DataFrame:
    return date_extract(
        raw, "raw.csv", "raw", EncounterDatesParams(), month=dt.date(2008, 12, 1)
    )


@pytest.fixture(scope="session")
def raw() -> pd.DataFrame:
    return raw_file()


@pytest.fixture(scope="session")
def champion_bundle(raw) -> dict:
    return fit_champion(raw)


@pytest.fixture
def registry(tmp_path, champion_bundle) -> Path:
    """A registry root whose logistic_regression champion is ``champion_bundle``."""
    root = tmp_path / "model_registry"
    ModelRegistryDataset(path=str(root / "logistic_regression")).save(champion_bundle)
    return root
