"""The training nodes on small snapshots: selection sees only train (CV) and test (threshold),
runs are deterministic, the registered pipeline scores gold rows, metrics and plots."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import replace

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from kedro_datasets.matplotlib import MatplotlibDataset
from pydantic import ValidationError
from sklearn.metrics import f1_score

from diab_readmit.parameter_models import CalibrationSettings, TrainingConfig
from diab_readmit.pipelines.training import calibration, evaluation, nodes
from diab_readmit.pipelines.training.decision_nodes import assess_decisions
from diab_readmit.pipelines.training.estimators import (
    EstimatorSettings,
    build_estimator,
    final_estimator,
)
from diab_readmit.pipelines.training.evaluation import METRICS
from diab_readmit.pipelines.training.group_performance import TrustSettings
from diab_readmit.pipelines.training.search import (
    SearchSettings,
    make_search,
    search_rows,
)
from diab_readmit.pipelines.training.trust_nodes import (
    assess_trust,
    collect_evidence,
    explain_evaluation_windows,
)

from .conftest import SMALL_ALGORITHMS, gold_windows, make_snapshot, small_settings


def _train_and_evaluate(snapshot, algorithm, **config):
    training_config, estimator, search = small_settings(algorithm, **config)
    tuned = nodes.tune_hyperparameters(snapshot, training_config, estimator, search)
    test_scores, oot_scores = nodes.score_evaluation_windows(tuned, snapshot)
    threshold = nodes.choose_decision_threshold(test_scores, training_config)
    metrics = nodes.evaluate_windows(test_scores, oot_scores, threshold)
    return tuned, test_scores, oot_scores, threshold, metrics


def _explained(snapshot, tuned, test_scores, oot_scores, threshold):
    """What the trust nodes hand to the plots and the registry bundle."""
    trust = TrustSettings(bootstrap={"replicates": 50})
    _, explanations = explain_evaluation_windows(
        tuned, snapshot, test_scores, oot_scores, threshold, trust
    )
    assessment = assess_trust(snapshot, test_scores, oot_scores, threshold, trust)
    return explanations, assessment


def _decisions(test_scores, oot_scores, threshold):
    """What assess_decisions hands to the plots and the registry bundle."""
    trust = TrustSettings(bootstrap={"replicates": 50})
    return assess_decisions(test_scores, oot_scores, threshold, trust)


@pytest.mark.parametrize("algorithm", list(SMALL_ALGORITHMS))
def test_same_data_and_seed_give_the_same_model_and_metrics(snapshot, algorithm):
    first = _train_and_evaluate(snapshot, algorithm)
    second = _train_and_evaluate(snapshot, algorithm)
    assert first[0]["best_params"] == second[0]["best_params"]
    assert first[0]["cv_score"] == second[0]["cv_score"]
    np.testing.assert_array_equal(first[1]["y_score"], second[1]["y_score"])
    assert first[3] == second[3]
    assert first[4] == second[4]
    # The planted signal is found: better than chance on both windows.
    assert first[4]["test"]["auc_roc"] > 0.6 and first[4]["oot"]["auc_roc"] > 0.6


def test_two_worker_processes_give_the_same_result_as_one(snapshot):
    one = _train_and_evaluate(snapshot, "random_forest", n_jobs=1)
    two = _train_and_evaluate(snapshot, "random_forest", n_jobs=2)
    assert one[0]["best_params"] == two[0]["best_params"]
    assert one[4] == two[4]


@pytest.mark.parametrize("algorithm", list(SMALL_ALGORITHMS))
def test_the_oot_window_never_chooses_anything(algorithm):
    """Shuffled OOT labels and noise OOT features change OOT metrics, nothing else."""
    snapshot = make_snapshot(seed=3)
    oot = snapshot.oot.copy()
    rng = np.random.default_rng(99)
    oot["readmitted_30d"] = rng.permutation(oot["readmitted_30d"].to_numpy())
    features = snapshot.metadata["feature_columns"]
    oot[features] = rng.normal(size=(len(oot), len(features))).astype(np.float32)
    scrambled = replace(snapshot, oot=oot)

    original = _train_and_evaluate(snapshot, algorithm)
    changed = _train_and_evaluate(scrambled, algorithm)
    assert original[0]["best_params"] == changed[0]["best_params"]
    assert original[0]["cv_score"] == changed[0]["cv_score"]
    np.testing.assert_array_equal(original[1]["y_score"], changed[1]["y_score"])
    assert original[3] == changed[3]  # the threshold
    assert original[4]["test"] == changed[4]["test"]
    assert original[4]["oot"] != changed[4]["oot"]


def test_registered_pipeline_scores_gold_rows_like_the_classifier(snapshot):
    training_config, estimator, search = small_settings("xgboost")
    tuned, test_scores, oot_scores, threshold, metrics = _train_and_evaluate(
        snapshot, "xgboost"
    )
    explanations, assessment = _explained(
        snapshot, tuned, test_scores, oot_scores, threshold
    )
    decisions = _decisions(test_scores, oot_scores, threshold)
    plots = nodes.draw_evaluation_plots(
        test_scores, oot_scores, threshold, explanations, decisions, estimator
    )
    bundle = nodes.package_model(
        tuned,
        snapshot,
        threshold,
        metrics,
        plots,
        collect_evidence(
            explanations, assessment, _decisions(test_scores, oot_scores, threshold)
        ),
        training_config,
        estimator,
        search,
    )

    gold_test = gold_windows()["test"]  # unscaled, with ids and extra columns
    scores = bundle["model"].predict_proba(gold_test)[:, 1]
    np.testing.assert_allclose(scores, test_scores["y_score"], rtol=1e-6)
    assert [name for name, _ in bundle["model"].steps] == ["preprocess", "classifier"]

    metadata = bundle["metadata"]
    for key in (
        "model_name",
        "training_date",
        "temporal_splits",
        "feature_count",
        "training_samples",
        "test_samples",
        "oot_samples",
        "performance",
        "config",
        "best_params",
        "cv_score",
        "threshold",
        "snapshot_id",
        "feature_columns",
        "library_versions",
        "training_seconds",
    ):
        assert key in metadata, key
    assert metadata["model_name"] == "xgboost"
    assert metadata["snapshot_id"] == snapshot.snapshot_id
    assert metadata["feature_columns"] == snapshot.metadata["feature_columns"]
    assert not {"encounter_id", "patient_nbr", "partition_date"} & set(
        metadata["feature_columns"]
    )
    assert metadata["training_samples"] == len(snapshot.train)
    assert set(metadata["performance"]) == {"test", "oot"}
    assert set(METRICS) <= set(metadata["performance"]["oot"])
    assert metadata["threshold"] == threshold["threshold"]
    assert (
        metadata["threshold_rule"] == "max_f1"
        and metadata["threshold_window"] == "test"
    )
    assert {"scikit-learn", "xgboost", "pandas"} <= set(metadata["library_versions"])


def test_no_class_reweighting_by_default_and_auto_weight_from_the_train_window(
    snapshot,
):
    y = snapshot.train["readmitted_30d"].to_numpy()
    for name in ("logistic_regression", "random_forest"):
        model = final_estimator(
            build_estimator(EstimatorSettings(name=name), y, seed=1)
        )
        assert model.get_params()["class_weight"] is None
    assert (
        build_estimator(EstimatorSettings(name="xgboost"), y, seed=1).get_params()[
            "scale_pos_weight"
        ]
        is None
    )
    asked = EstimatorSettings(name="xgboost", params={"scale_pos_weight": "auto"})
    xgb = build_estimator(asked, y, seed=1)
    assert xgb.get_params()["scale_pos_weight"] == pytest.approx(
        (y == 0).sum() / (y == 1).sum()
    )


@pytest.mark.parametrize("name", ["logistic_regression", "random_forest", "xgboost"])
def test_registered_risks_are_calibrated_on_a_train_holdout(name):
    """Reweighted training inflates risks; the calibrated model's mean risk matches the rate."""
    big = make_snapshot(n_rows=12000, seed=3)
    training_config, settings, search = small_settings(name)
    weighting = (
        {"scale_pos_weight": "auto"}
        if name == "xgboost"
        else {"class_weight": "balanced"}
    )
    settings = EstimatorSettings(name=name, params={**settings.params, **weighting})
    tuned = nodes.tune_hyperparameters(big, training_config, settings, search)
    raw = calibration.uncalibrated(tuned["classifier"])
    test = big.test
    features = tuned["feature_columns"]
    inflated = raw.predict_proba(test[features])[:, 1]
    risk = tuned["classifier"].predict_proba(test[features])[:, 1]
    rate = test["readmitted_30d"].mean()
    assert inflated.mean() > rate + 0.1  # the reweighted model alone over-predicts
    assert abs(risk.mean() - rate) < 0.03
    metrics = evaluation.window_metrics(test["readmitted_30d"].to_numpy(), risk, 0.5)
    assert metrics["ece"] < 0.04 and 0.6 < metrics["calibration_slope"] < 1.6
    assert metrics["brier"] < rate * (1 - rate)  # better than predicting the base rate
    info = tuned["calibration"]
    assert info["method"] == "sigmoid" and info["fit_rows"] + info[
        "calibration_rows"
    ] == len(big.train)


def test_cv_folds_keep_each_patient_whole_and_the_calibration_holdout_is_recent(
    snapshot,
):
    train = snapshot.train
    y, groups = train["readmitted_30d"].to_numpy(), train["patient_nbr"].to_numpy()
    order = train["partition_date"].to_numpy()
    fit_rows, holdout = calibration.calibration_split(
        y, groups, order, CalibrationSettings(holdout="patients"), seed=1
    )
    assert not set(groups[fit_rows]) & set(groups[holdout])
    assert len(holdout) / len(y) == pytest.approx(0.15, abs=0.05)
    fit_rows, recent = calibration.calibration_split(
        y, groups, order, CalibrationSettings(), seed=1
    )
    assert (
        order[recent].min() >= order[fit_rows].max()
    )  # the latest encounters of the window
    assert len(recent) == round(0.15 * len(y)) and len(fit_rows) + len(recent) == len(y)
    searcher = make_search(
        build_estimator(EstimatorSettings(name="random_forest"), y, seed=1),
        small_settings("random_forest")[2],
        n_candidates=1,
        cv_folds=3,
        scoring="roc_auc",
        n_jobs=1,
        seed=1,
        label="rf",
    )
    for fold_train, fold_test in searcher.cv.split(train, y, groups):
        assert not set(groups[fold_train]) & set(groups[fold_test])


def test_calibration_metrics_of_known_miscalibration():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.02, 0.6, 40000)
    y = (rng.random(len(p)) < p).astype(int)
    right = evaluation.window_metrics(y, p, 0.5)
    assert abs(right["calibration_intercept"]) < 0.05 and right[
        "calibration_slope"
    ] == pytest.approx(1, abs=0.05)
    assert right["ece"] < 0.01
    logit = np.log(p / (1 - p))
    doubled = 1 / (1 + np.exp(-(2 * logit + 1.0)))  # too extreme and too high
    wrong = evaluation.window_metrics(y, doubled, 0.5)
    assert wrong["calibration_slope"] == pytest.approx(0.5, abs=0.05)
    assert wrong["calibration_intercept"] < -0.3 and wrong["ece"] > 0.05


def test_threshold_rules_choose_on_the_test_scores():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 400)
    y_score = np.clip(y_true * 0.3 + rng.random(400) * 0.7, 0, 1)
    scores = {"y_true": y_true, "y_score": y_score}

    chosen = nodes.choose_decision_threshold(scores, TrainingConfig())
    best_f1 = max(f1_score(y_true, y_score >= t) for t in np.unique(y_score))
    assert f1_score(y_true, y_score >= chosen["threshold"]) == pytest.approx(best_f1)
    assert chosen["criterion_value"] == pytest.approx(best_f1)
    assert chosen["rule"] == "max_f1" and chosen["window"] == "test"

    youden = nodes.choose_decision_threshold(
        scores, TrainingConfig(threshold_rule="max_youden")
    )
    assert 0 < youden["threshold"] < 1 and youden["criterion_value"] > 0
    fixed = nodes.choose_decision_threshold(
        scores, TrainingConfig(threshold_rule="fixed", fixed_threshold=0.3)
    )
    assert fixed["threshold"] == 0.3
    with pytest.raises(ValidationError, match="threshold_rule 'median' is not one of"):
        TrainingConfig(threshold_rule="median")


def test_metrics_of_a_window():
    scores = {
        "y_true": np.array([0, 0, 1, 1]),
        "y_score": np.array([0.1, 0.6, 0.4, 0.9]),
    }
    metrics = nodes.evaluate_windows(scores, scores, {"threshold": 0.5})["test"]
    assert (
        metrics["accuracy"] == 0.5
        and metrics["precision"] == 0.5
        and metrics["recall"] == 0.5
    )
    assert metrics["auc_roc"] == 0.75
    assert metrics["brier"] == pytest.approx(
        np.mean((scores["y_score"] - scores["y_true"]) ** 2)
    )
    assert metrics["rows"] == 4 and metrics["positive_rate"] == 0.5
    assert set(METRICS) <= set(metrics)


def test_every_search_stage_is_logged_with_candidates_best_score_and_seconds(
    snapshot, caplog
):
    caplog.set_level(logging.INFO, logger="diab_readmit.pipelines.training.search")
    tuned = _train_and_evaluate(snapshot, "xgboost")[0]
    lines = [r.getMessage() for r in caplog.records if "search stage" in r.getMessage()]
    stages = tuned["search"]["stages"]
    assert len(lines) == len(stages) >= 2  # successive halving: several stages
    pattern = re.compile(
        r"xgboost search stage \d: \d+ candidates x 3 folds on \d+ rows, best roc_auc "
        r"this stage 0\.\d{4} \(best so far 0\.\d{4}\), \d+\.\d s"
    )
    assert all(pattern.fullmatch(line) for line in lines), lines
    assert stages[0]["candidates"] == 4 and stages[-1]["rows"] > stages[0]["rows"]
    assert tuned["cv_score"] == pytest.approx(stages[-1]["best_stage_score"])


def test_the_search_can_see_a_stratified_sample_of_the_train_window(snapshot):
    tuned = _train_and_evaluate(snapshot, "xgboost")[0]  # search_fraction: 0.6
    train_rows = len(snapshot.train)
    assert tuned["search"]["rows"] == pytest.approx(0.6 * train_rows, abs=1)
    assert (
        max(stage["rows"] for stage in tuned["search"]["stages"])
        <= tuned["search"]["rows"]
    )
    y = snapshot.train["readmitted_30d"].to_numpy()
    rows = search_rows(
        y, SearchSettings(search_fraction=0.5, space={"C": [1.0]}), seed=1
    )
    assert len(rows) == round(len(y) / 2) and len(set(rows)) == len(rows)
    assert y[rows].mean() == pytest.approx(y.mean(), abs=0.01)  # stratified
    capped = search_rows(
        y,
        SearchSettings(search_fraction=0.5, max_search_rows=300, space={"C": [1.0]}),
        seed=1,
    )
    assert len(capped) == 300
    assert len(search_rows(y, SearchSettings(space={"C": [1.0]}), seed=1)) == len(y)


def test_random_search_evaluates_the_configured_number_of_candidates(snapshot):
    tuned = _train_and_evaluate(snapshot, "logistic_regression", n_candidates=7)[0]
    assert tuned["search"]["method"] == "random"
    assert sum(stage["candidates"] for stage in tuned["search"]["stages"]) == 7


def test_plots_are_written_as_readable_png(snapshot, tmp_path):
    _, estimator, _ = small_settings("random_forest")
    tuned, test_scores, oot_scores, threshold, _ = _train_and_evaluate(
        snapshot, "random_forest"
    )
    explanations, _ = _explained(snapshot, tuned, test_scores, oot_scores, threshold)
    decisions = _decisions(test_scores, oot_scores, threshold)
    plots = nodes.draw_evaluation_plots(
        test_scores, oot_scores, threshold, explanations, decisions, estimator
    )
    assert set(plots) == {
        "roc_curves.png",
        "precision_recall_curves.png",
        "calibration.png",
        "calibration_smoothed.png",
        "decision_curve.png",
        "confusion_matrices.png",
        "importances.png",
    }
    MatplotlibDataset(
        filepath=str(tmp_path / "random_forest"), save_args={"format": "png"}
    ).save(plots)
    for name in plots:
        image = matplotlib.image.imread(
            io.BytesIO((tmp_path / "random_forest" / name).read_bytes())
        )
        assert image.ndim == 3 and min(image.shape[:2]) > 100


def test_identity_columns_are_refused_as_features(snapshot):
    broken = replace(
        snapshot,
        metadata={
            **snapshot.metadata,
            "feature_columns": [
                *snapshot.metadata["feature_columns"],
                "encounter_id",
            ],
        },
    )
    training_config, estimator, search = small_settings("logistic_regression")
    with pytest.raises(
        nodes.SnapshotContractError, match=r"\['encounter_id'\] as feature columns"
    ):
        nodes.tune_hyperparameters(broken, training_config, estimator, search)


def test_unknown_parameter_names_are_reported_with_their_yaml_key(snapshot):
    training_config, _, search = small_settings("random_forest")
    with pytest.raises(
        ValueError,
        match=r"random_forest.estimator.params .*\['max_dept'\] is not a parameter",
    ):
        nodes.tune_hyperparameters(
            snapshot,
            training_config,
            EstimatorSettings(name="random_forest", params={"max_dept": 3}),
            search,
        )
    bad_space = SearchSettings(space={"n_trees": [10, 20]})
    with pytest.raises(
        ValueError,
        match=r"random_forest.search.space .*\['n_trees'\] is not a parameter",
    ):
        nodes.tune_hyperparameters(
            snapshot,
            training_config,
            EstimatorSettings(name="random_forest"),
            bad_space,
        )


def test_search_space_syntax_is_validated():
    with pytest.raises(ValidationError, match=r"space.C = .*loguniform"):
        SearchSettings(space={"C": {"logunifrom": [0.1, 1]}})
    with pytest.raises(
        ValidationError, match=r"space.C.loguniform = \[0.0, 1.0\]: low must be > 0"
    ):
        SearchSettings(space={"C": {"loguniform": [0.0, 1.0]}})
    with pytest.raises(ValidationError, match="need \\[low, high\\] with low < high"):
        SearchSettings(space={"max_depth": {"randint": [5, 2]}})


def test_a_window_with_one_class_is_a_clear_error(snapshot):
    one_class = replace(
        snapshot, train=snapshot.train.assign(readmitted_30d=np.int8(0))
    )
    training_config, estimator, search = small_settings("logistic_regression")
    with pytest.raises(
        nodes.SnapshotContractError, match="train window .* only one class"
    ):
        nodes.tune_hyperparameters(one_class, training_config, estimator, search)
    constant = {"y_true": np.zeros(5, dtype=int), "y_score": np.linspace(0, 1, 5)}
    with pytest.raises(
        nodes.SnapshotContractError, match="test window has only one class"
    ):
        nodes.choose_decision_threshold(constant, training_config)


def test_snapshot_without_temporal_splits_reports_the_observed_windows(snapshot):
    training_config, estimator, search = small_settings("logistic_regression")
    tuned, test_scores, oot_scores, threshold, metrics = _train_and_evaluate(
        snapshot, "logistic_regression"
    )
    bare = replace(
        snapshot, metadata={"feature_columns": snapshot.metadata["feature_columns"]}
    )
    explanations, assessment = _explained(
        bare, tuned, test_scores, oot_scores, threshold
    )
    bundle = nodes.package_model(
        tuned,
        bare,
        threshold,
        metrics,
        {},
        collect_evidence(
            explanations, assessment, _decisions(test_scores, oot_scores, threshold)
        ),
        training_config,
        estimator,
        search,
    )
    splits = bundle["metadata"]["temporal_splits"]
    assert (
        splits["oot"]["start_date"] >= "2008-01-01"
        and splits["train"]["end_date"] <= "2005-12-31"
    )
    assert pd.Timestamp(splits["test"]["start_date"]) >= pd.Timestamp("2006-01-01")


def test_patient_folds_are_whole_stratified_seeded_and_fast():
    import time

    from diab_readmit.patient_folds import StratifiedPatientKFold

    rng = np.random.default_rng(0)
    groups = rng.integers(0, 50_000, 70_000)
    y = (rng.random(70_000) < 0.11).astype(int)
    started = time.perf_counter()
    folds = list(StratifiedPatientKFold(5, random_state=1).split(None, y, groups))
    assert time.perf_counter() - started < 2.0  # StratifiedGroupKFold: ~8 s
    test_rows = np.concatenate([test for _, test in folds])
    assert sorted(test_rows) == list(range(len(y)))  # a partition of the rows
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert y[test].mean() == pytest.approx(y.mean(), abs=0.005)
        assert len(test) == pytest.approx(len(y) / 5, rel=0.03)
    again = list(StratifiedPatientKFold(5, random_state=1).split(None, y, groups))
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again))
