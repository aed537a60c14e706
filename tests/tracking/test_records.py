"""tracking.records, tracking.settings and the mirror plan: pure functions, no MLflow."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from diab_readmit.pipelines.training.search import SearchSettings
from diab_readmit.tracking import records
from diab_readmit.tracking.model_mirror import mirror_plan, model_name
from diab_readmit.tracking.settings import (
    TrackingConfigError,
    TrackingSettings,
    tracking_settings,
)


def test_params_are_flattened_and_only_the_shaping_ones_kept():
    parameters = {
        "temporal_splits": {"train": {"start_date": "1999-01-01"}},
        "cohort": {"exclude_discharge_dispositions": [11, 13]},
        "training_config": {"calibration": {"method": "sigmoid"}, "seed": 42},
        "xgboost": {"search": {"method": "random"}, "estimator": {"name": "xgboost"}},
        "reporting": {"report": {"selection_metric": "auc_roc"}},
    }
    run = records.run_params(parameters)
    assert run == {
        "temporal_splits.train.start_date": "1999-01-01",
        "cohort.exclude_discharge_dispositions": "[11, 13]",
        "training_config.calibration.method": "sigmoid",
        "training_config.seed": "42",
    }
    assert records.algorithm_params(parameters, "xgboost") == {
        "estimator.name": "xgboost",
        "search.method": "random",
    }
    assert records.algorithm_params(parameters, "random_forest") == {}
    validated = {
        "lr": {
            "search": SearchSettings(
                method="random", space={"C": {"loguniform": [0.01, 1.0]}}
            )
        }
    }
    assert records.algorithm_params(validated, "lr")["search.method"] == "random"
    long = records.flat_params({"x": "y" * 10_000})
    assert len(long["x"]) == records.MAX_PARAM_LENGTH


def test_window_metrics_carry_every_number_and_the_intervals():
    evaluation = {
        "test": {"auc_roc": 0.71, "brier": 0.09, "rule": "max_f1", "n": 12},
        "oot": {"auc_roc": 0.69, "calibration_slope": math.nan},
    }
    intervals = {
        "test": {"auc_roc": {"estimate": 0.7101, "interval": [0.69, 0.73]}},
        "oot": {"net_benefit": {"estimate": 0.02, "interval": [0.01, 0.03]}},
    }
    metrics = records.window_metrics(evaluation, intervals)
    assert metrics["test_auc_roc"] == 0.71  # the evaluation's own value wins
    assert metrics["test_auc_roc_ci_low"] == 0.69
    assert metrics["test_auc_roc_ci_high"] == 0.73
    assert metrics["test_n"] == 12.0 and "test_rule" not in metrics
    assert "oot_calibration_slope" not in metrics  # NaN is not recorded
    assert metrics["oot_net_benefit"] == 0.02  # a metric the hook does not know by name


def test_candidates_table_lists_params_and_scores_best_first():
    candidates = [
        {"params": {"C": 0.1}, "mean_test_score": 0.6, "rank_test_score": 2, "iter": 0},
        {"params": {"C": 1.0}, "mean_test_score": 0.7, "rank_test_score": 1, "iter": 0},
        {
            "params": {"C": 1.0},
            "mean_test_score": 0.72,
            "rank_test_score": 1,
            "iter": 1,
        },
    ]
    table = records.candidates_table(candidates)
    assert list(table["param_C"]) == ["1.0", "1.0", "0.1"]
    assert list(table["iter"]) == [1, 0, 0]
    assert records.candidates_table([]).empty


def test_gold_versions_take_gold_tables_when_present_else_commit_ids():
    delta = {
        "gold_tables": {
            "feature_store": {"path": "s3://b/gold/feature_store", "version": 7},
            "label_store": {"path": "s3://b/gold/label_store", "version": 7},
        },
        "source": {"feature_store": {"commit_id": "g1"}},
    }
    assert records.gold_versions(delta) == {
        "gold_tables.feature_store.path": "s3://b/gold/feature_store",
        "gold_tables.feature_store.version": "7",
        "gold_tables.label_store.path": "s3://b/gold/label_store",
        "gold_tables.label_store.version": "7",
    }
    commits = {
        "source": {
            "feature_store": {"path": "f", "commit_id": "g20260101_000000"},
            "label_store": {"path": "l", "commit_id": "g20260101_000000"},
            "data_partitions": ["1999-01-01"],
        }
    }
    assert records.gold_versions(commits) == {
        "gold.feature_store.commit_id": "g20260101_000000",
        "gold.label_store.commit_id": "g20260101_000000",
    }
    assert records.gold_versions({}) == {}


def test_mirror_plan_registers_what_mlflow_lacks_and_names_the_champion():
    history = {
        "algorithm": "xgboost",
        "champion": "v2",
        "versions": [
            {"id": "v1", "status": "retired"},
            {"id": "v2", "status": "champion"},
            {"id": "v3", "status": "rejected"},
        ],
    }
    plan = mirror_plan(history, mirrored={"v1"})
    assert plan.to_register == ["v2", "v3"]
    assert plan.champion == "v2"
    assert plan.statuses == {"v1": "retired", "v2": "champion", "v3": "rejected"}
    empty = mirror_plan(
        {"algorithm": "xgboost", "champion": None, "versions": []}, set()
    )
    assert empty.to_register == [] and empty.champion is None
    assert model_name("xgboost") == "diab_readmit-xgboost"


def test_settings_resolve_relative_paths_and_the_switch(monkeypatch):
    settings = tracking_settings(
        {"tracking": {"uri": "sqlite:///data/t.db", "artifact_location": "data/a"}}
    ).resolved(Path("/project"))
    assert settings.uri == "sqlite:////project/data/t.db"
    assert settings.artifact_location == "/project/data/a"
    assert settings.active
    monkeypatch.setenv("DIAB_TRACKING", "off")
    assert not settings.active
    monkeypatch.delenv("DIAB_TRACKING")
    remote = TrackingSettings(uri="http://mlflow:5000").resolved(Path("/project"))
    assert remote.uri == "http://mlflow:5000" and remote.active
    assert not TrackingSettings(uri="").active  # --env aws without MLFLOW_TRACKING_URI
    with pytest.raises(
        TrackingConfigError, match=r"tracking\.yml is invalid: tracking\.experment"
    ):
        tracking_settings({"tracking": {"experment": "x"}})
