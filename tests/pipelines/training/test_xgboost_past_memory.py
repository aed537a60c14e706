"""XGBoost's final fit past one float matrix: external memory (pandas engine) and
xgboost.dask (Dask engine, on a real LocalCluster), against the in-memory fit."""

from __future__ import annotations

import json
import logging
import pickle

import numpy as np
import pytest
import xgboost
from distributed import Client, LocalCluster
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline as SklearnPipeline

from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.pipelines.training.calibration import uncalibrated
from diab_readmit.pipelines.training.estimators import EstimatorSettings
from diab_readmit.pipelines.training.explanations import top_reasons
from diab_readmit.pipelines.training.nodes import (
    score_evaluation_windows,
    tune_hyperparameters,
)
from diab_readmit.pipelines.training.xgboost_fits import NoDaskClientError
from tests.conftest import PROJECT

from .conftest import SMALL_ALGORITHMS, gold_windows, make_snapshot, small_settings

#: Rows of the synthetic snapshot: ~4,200 train rows, so batches of 500 make 8 or more.
ROWS = 6000
BATCH_ROWS = 500
#: How far the test ROC-AUC of a fit past memory may be from the in-memory fit's. The
#: quantile sketch over batches (or over workers) can place a few bin edges differently.
AUC_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def snapshot():
    return make_snapshot(ROWS)


def _xgboost_settings(external_memory=None, **config):
    config, _, search = small_settings("xgboost", **config)
    estimator = EstimatorSettings(
        **SMALL_ALGORITHMS["xgboost"]["estimator"], external_memory=external_memory
    )
    return config, estimator, search


def _trained(snapshot, external_memory=None, **config):
    config, estimator, search = _xgboost_settings(external_memory, **config)
    tuned = tune_hyperparameters(snapshot, config, estimator, search)
    test_scores, _ = score_evaluation_windows(tuned, snapshot)
    return tuned, roc_auc_score(test_scores["y_true"], test_scores["y_score"])


@pytest.fixture(scope="module")
def in_memory(snapshot):
    return _trained(snapshot)


def test_external_memory_path_past_min_rows_matches_the_in_memory_fit(
    snapshot, in_memory, caplog
):
    tuned_in_memory, auc_in_memory = in_memory
    assert tuned_in_memory["training_data"]["kind"] == "in_memory"

    with caplog.at_level(logging.INFO):
        tuned, auc = _trained(snapshot, {"min_rows": 100, "batch_rows": BATCH_ROWS})
    data = tuned["training_data"]
    assert data["kind"] == "external_memory"
    assert data["rows"] == tuned["calibration"]["fit_rows"]
    assert data["batches"] == -(-data["rows"] // BATCH_ROWS) >= 8
    # XGBoost read every batch at least twice (quantile sketch, then the page cache).
    assert data["batch_passes"] >= 2
    assert any(
        r.name.endswith("xgboost_fits") and "through external memory" in r.getMessage()
        for r in caplog.records
    )
    # Same search, same winner: only the refit's data path differs.
    assert tuned["best_params"] == tuned_in_memory["best_params"]
    assert abs(auc - auc_in_memory) <= AUC_TOLERANCE, (auc, auc_in_memory)
    assert auc > 0.6

    # The same kind of model as the in-memory path: a plain XGBClassifier that stops at
    # its early-stopping round, with the feature names, and that TreeSHAP explains.
    model = uncalibrated(tuned["classifier"])
    assert type(model) is xgboost.XGBClassifier
    assert list(model.feature_names_in_) == tuned["feature_columns"]
    assert 0 <= model.best_iteration < model.get_booster().num_boosted_rounds()
    pipeline = SklearnPipeline(
        [("preprocess", snapshot.scaler), ("classifier", tuned["classifier"])]
    )
    gold = gold_windows(ROWS)["oot"].head(50)
    reasons = top_reasons(pipeline, gold, k=2)
    assert len(reasons) == 50 and reasons["reason_1"].notna().all()
    assert reasons.attrs["unit"] == "log-odds"


def test_without_a_calibration_holdout_both_paths_early_stop_on_zero_weighted_rows(
    snapshot,
):
    uncalibrated_config = {"calibration": {"method": "none"}}
    in_memory, auc_in_memory = _trained(snapshot, **uncalibrated_config)
    tuned, auc = _trained(
        snapshot, {"min_rows": 100, "batch_rows": BATCH_ROWS}, **uncalibrated_config
    )
    assert tuned["training_data"]["kind"] == "external_memory"
    assert tuned["calibration"]["calibration_rows"] == 0
    assert abs(auc - auc_in_memory) <= AUC_TOLERANCE, (auc, auc_in_memory)
    # Early stopping watched the same held-out rows and stopped at the same round.
    assert tuned["classifier"].best_iteration == in_memory["classifier"].best_iteration


def test_below_min_rows_or_without_external_memory_the_fit_stays_in_memory(snapshot):
    config, estimator, search = _xgboost_settings({"min_rows": 1_000_000})
    tuned = tune_hyperparameters(snapshot, config, estimator, search)
    assert tuned["training_data"] == {
        "kind": "in_memory",
        "rows": tuned["calibration"]["fit_rows"],
    }


def test_external_memory_is_refused_for_algorithms_other_than_xgboost():
    with pytest.raises(ValidationError, match="only XGBoost trains through external"):
        EstimatorSettings(name="random_forest", external_memory={"min_rows": 10})
    with pytest.raises(ValidationError, match="batch_rows"):
        EstimatorSettings(name="xgboost", external_memory={"batch_rows": 0})


def test_dask_engine_without_a_client_says_how_to_get_one(snapshot, monkeypatch):
    monkeypatch.setenv("DIAB_ENGINE", "dask")
    config, estimator, search = _xgboost_settings()
    with pytest.raises(NoDaskClientError, match="no Dask client"):
        tune_hyperparameters(snapshot, config, estimator, search)


@pytest.mark.slow
def test_registered_external_memory_model_scores_and_explains_gold_rows(
    training_project,
):
    training_project.run(
        "--pipelines",
        "xgboost",
        "--params",
        f"xgboost.estimator.external_memory.min_rows=100,"
        f"xgboost.estimator.external_memory.batch_rows={BATCH_ROWS}",
    )
    root = training_project.data / "06_models" / "model_registry" / "xgboost"
    metadata = json.loads((root / "latest" / "metadata.json").read_text())
    assert metadata["training_data"]["kind"] == "external_memory"
    assert metadata["training_data"]["batches"] >= 4
    model = pickle.loads((root / "latest" / "model.pkl").read_bytes())
    gold = gold_windows()["oot"]
    scores = model.predict_proba(gold)[:, 1]
    assert np.all((scores >= 0) & (scores <= 1))
    assert roc_auc_score(gold["readmitted_30d"], scores) > 0.6
    bundle = ModelRegistryDataset(path=str(root)).load()
    assert top_reasons(bundle, gold.head(20))["reason_1"].notna().all()


@pytest.fixture
def dask_client(monkeypatch):
    """A real two-worker LocalCluster, the process's default client, named as the run's."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        monkeypatch.setenv("DIAB_ENGINE", "dask")
        # The engine's hook connects to this cluster instead of starting its own.
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        yield client


@pytest.mark.slow
def test_dask_engine_trains_with_xgboost_dask_registers_and_scores(
    snapshot, in_memory, dask_client, training_project
):
    _, auc_in_memory = in_memory
    tuned, auc = _trained(snapshot)
    data = tuned["training_data"]
    assert data["kind"] == "dask" and data["dask_workers"] == 2
    assert data["scheduler"] == dask_client.scheduler.address
    assert type(uncalibrated(tuned["classifier"])) is xgboost.XGBClassifier
    assert abs(auc - auc_in_memory) <= AUC_TOLERANCE, (auc, auc_in_memory)

    # A whole training run on the Dask engine registers the same kind of model.
    bootstrap_project(training_project.path)
    try:
        with KedroSession.create(training_project.path) as session:
            session.run(pipeline_names=["xgboost"])
    finally:
        bootstrap_project(PROJECT)
    root = training_project.data / "06_models" / "model_registry" / "xgboost"
    bundle = ModelRegistryDataset(path=str(root)).load()
    assert bundle["metadata"]["training_data"]["kind"] == "dask"
    gold = gold_windows()["oot"]
    scores = bundle["model"].predict_proba(gold)[:, 1]
    assert roc_auc_score(gold["readmitted_30d"], scores) > 0.6
    assert top_reasons(bundle, gold.head(20))["reason_1"].notna().all()
