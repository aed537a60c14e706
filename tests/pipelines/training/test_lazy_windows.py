"""Training on lazy snapshot windows (ParquetWindow) gives what training on frames gives.

The same synthetic snapshot is saved once with the project's PreprocessedSnapshotDataset
and loaded twice: with every window as a DataFrame, and with ``lazy_min_rows`` forced low so
every window is a ParquetWindow read batch by batch (batch sizes forced low too, so every
read crosses batches and row groups).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline as SklearnPipeline

from diab_readmit.datasets import preprocessed_snapshot as snapshot_module
from diab_readmit.datasets.parquet_window import ParquetWindow
from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
from diab_readmit.pipelines.training import model_matrix, trust_nodes
from diab_readmit.pipelines.training.bootstrap import BLOCK_REPLICATES, block_replicates
from diab_readmit.pipelines.training.estimators import EstimatorSettings
from diab_readmit.pipelines.training.group_performance import TrustSettings
from diab_readmit.pipelines.training.nodes import (
    choose_decision_threshold,
    score_evaluation_windows,
    tune_hyperparameters,
)
from diab_readmit.pipelines.training.promotion import PromotionParams, gate_challenger

from .conftest import SMALL_ALGORITHMS, make_snapshot, small_settings

ROWS = 6000
BATCH_ROWS = 500
AUC_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    """(in memory, lazy) loads of one saved snapshot; row groups of 300 rows."""
    path = str(tmp_path_factory.mktemp("lazy") / "preprocessed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(snapshot_module, "ROW_GROUP_ROWS", 300)
        PreprocessedSnapshotDataset(path=path).save(make_snapshot(ROWS))
    in_memory = PreprocessedSnapshotDataset(path=path).load()
    lazy = PreprocessedSnapshotDataset(path=path, lazy_min_rows=100).load()
    assert all(isinstance(w, pd.DataFrame) for w in in_memory.windows().values())
    assert all(isinstance(w, ParquetWindow) for w in lazy.windows().values())
    return in_memory, lazy


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(model_matrix, "SCORING_BATCH_ROWS", 350)
    monkeypatch.setattr(trust_nodes, "EXPLAIN_BATCH_ROWS", 400)


def _xgboost(external_memory):
    config, _, search = small_settings("xgboost")
    estimator = EstimatorSettings(
        **SMALL_ALGORITHMS["xgboost"]["estimator"], external_memory=external_memory
    )
    return config, estimator, search


@pytest.fixture(scope="module")
def trained(snapshots):
    """XGBoost through external memory on both loads of the snapshot."""
    config, estimator, search = _xgboost({"min_rows": 100, "batch_rows": BATCH_ROWS})
    return [tune_hyperparameters(s, config, estimator, search) for s in snapshots]


def _booster_bytes(tuned) -> bytes:
    classifier = tuned["classifier"]
    inner = getattr(classifier, "estimator", classifier)
    inner = getattr(inner, "estimator", inner)
    return bytes(inner.get_booster().save_raw("json"))


def test_xgboost_on_lazy_windows_fits_what_it_fits_on_frames(snapshots, trained):
    in_memory, lazy = snapshots
    tuned_in_memory, tuned_lazy = trained
    assert tuned_lazy["training_data"]["kind"] == "external_memory"
    assert tuned_lazy["training_data"]["batches"] >= 8
    for key in ("best_params", "cv_score", "training_data", "calibration"):
        assert tuned_lazy[key] == tuned_in_memory[key], key
    assert tuned_lazy["feature_columns"] == tuned_in_memory["feature_columns"]
    # The same search sample, the same batches of fit rows: the same booster.
    assert _booster_bytes(tuned_lazy) == _booster_bytes(tuned_in_memory)
    lazy_test, _ = score_evaluation_windows(tuned_lazy, lazy)
    memory_test, _ = score_evaluation_windows(tuned_in_memory, in_memory)
    assert (
        abs(
            roc_auc_score(lazy_test["y_true"], lazy_test["y_score"])
            - roc_auc_score(memory_test["y_true"], memory_test["y_score"])
        )
        <= AUC_TOLERANCE
    )


def test_scores_reasons_and_trust_on_lazy_windows_equal_those_on_frames(
    snapshots, trained
):
    in_memory, lazy = snapshots
    tuned = trained[0]
    config, _, _ = _xgboost(None)
    trust = TrustSettings(bootstrap={"replicates": 50})
    results = []
    for snapshot in (in_memory, lazy):
        test_scores, oot_scores = score_evaluation_windows(tuned, snapshot)
        threshold = choose_decision_threshold(test_scores, config)
        predictions, explanations = trust_nodes.explain_evaluation_windows(
            tuned, snapshot, test_scores, oot_scores, threshold, trust
        )
        trusted = trust_nodes.assess_trust(
            snapshot, test_scores, oot_scores, threshold, trust
        )
        results.append(
            (test_scores, oot_scores, predictions, explanations, trusted, snapshot)
        )
    (memory, lazy_result) = results
    for window in (0, 1):  # test, OOT: the same booster gives the same risks
        np.testing.assert_array_equal(
            lazy_result[window]["y_true"], memory[window]["y_true"]
        )
        np.testing.assert_allclose(
            lazy_result[window]["y_score"],
            memory[window]["y_score"],
            rtol=0,
            atol=1e-12,
        )
    assert len(lazy.test) > 350  # scored in several batches
    pd.testing.assert_frame_equal(lazy_result[2], memory[2])
    lazy_explained, memory_explained = lazy_result[3], memory[3]
    assert (
        lazy_explained["predictions_sha256"] == memory_explained["predictions_sha256"]
    )
    assert lazy_explained["examples"] == memory_explained["examples"]
    lazy_means = lazy_explained["mean_abs_contribution"]["values"]
    memory_means = memory_explained["mean_abs_contribution"]["values"]
    assert list(lazy_means) == list(memory_means)
    assert list(lazy_means.values()) == pytest.approx(list(memory_means.values()))
    assert json.dumps(lazy_result[4], sort_keys=True) == json.dumps(
        memory[4], sort_keys=True
    )
    assert trust_nodes.population(lazy) == trust_nodes.population(in_memory)


def test_the_gate_rescores_a_champion_on_lazy_test_windows(snapshots, trained):
    in_memory, lazy = snapshots
    tuned = trained[0]
    features = tuned["feature_columns"]
    champion_model = SklearnPipeline(
        [("preprocess", in_memory.scaler), ("classifier", tuned["classifier"])]
    )
    champion = {
        "version_id": "v20260101_000000",
        "model": champion_model,
        "metadata": {"snapshot_id": in_memory.snapshot_id, "feature_columns": features},
    }
    records = []
    for snapshot in (in_memory, lazy):
        test_scores, _ = score_evaluation_windows(tuned, snapshot)
        package = {
            "metadata": {
                "performance": {"test": {"auc_roc": 0.7, "brier": 0.1, "ece": 0.01}},
                "feature_columns": features,
            }
        }
        records.append(
            gate_challenger(
                package, test_scores, snapshot, champion, None, PromotionParams()
            )
        )
    assert records[1]["paired"] and records[1]["paired_rows"] == len(lazy.test)
    assert records[1] == records[0]


@pytest.mark.parametrize("algorithm", ["logistic_regression", "random_forest"])
def test_in_memory_refits_materialise_their_rows_of_a_lazy_window(snapshots, algorithm):
    in_memory, lazy = snapshots
    config, estimator, search = small_settings(algorithm)
    tuned = [tune_hyperparameters(s, config, estimator, search) for s in snapshots]
    assert tuned[1]["training_data"]["kind"] == "in_memory"
    assert tuned[1]["best_params"] == tuned[0]["best_params"]
    lazy_test, _ = score_evaluation_windows(tuned[1], lazy)
    memory_test, _ = score_evaluation_windows(tuned[0], in_memory)
    np.testing.assert_allclose(lazy_test["y_score"], memory_test["y_score"], atol=1e-9)


def test_bootstrap_blocks_hold_at_most_64_x_250k_weights():
    assert block_replicates(1_000) == BLOCK_REPLICATES == 64
    assert block_replicates(250_000) == 64
    assert block_replicates(1_500_000) == 10
    assert block_replicates(10**9) == 1


def _registered(project) -> dict:
    root = project.data / "06_models" / "model_registry" / "xgboost"
    return json.loads((root / "latest" / "metadata.json").read_text())


@pytest.mark.slow
def test_kedro_run_on_lazy_windows_registers_what_a_run_on_frames_registers(
    training_project,
):
    external = (
        "xgboost.estimator.external_memory.min_rows=100,"
        f"xgboost.estimator.external_memory.batch_rows={BATCH_ROWS}"
    )
    training_project.run("--pipelines", "xgboost", "--params", external)
    on_frames = _registered(training_project)
    predictions = training_project.data / "08_reporting" / "evaluation_predictions"
    frames_predictions = pd.read_parquet(predictions / "xgboost.parquet")
    result = training_project.run(
        "--pipelines",
        "xgboost",
        "--params",
        f"{external},snapshot_lazy_min_rows=100",
    )
    assert (
        "train, test, oot left in their parquet files" in result.stdout + result.stderr
    )
    lazy = _registered(training_project)

    def fit_data(metadata):  # the page cache's size is XGBoost's business
        return {
            k: v for k, v in metadata["training_data"].items() if k != "cache_megabytes"
        }

    assert fit_data(lazy) == fit_data(on_frames)
    for key in (
        "best_params",
        "cv_score",
        "threshold",
        "performance",
        "training_samples",
        "test_samples",
        "oot_samples",
        "temporal_splits",
        "population",
        "intervals",
        "groups",
    ):
        assert lazy[key] == on_frames[key], key
    assert (
        lazy["explanations"]["predictions_sha256"]
        == on_frames["explanations"]["predictions_sha256"]
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(predictions / "xgboost.parquet"), frames_predictions
    )
