"""Trust for clinicians: contributions add up, every gold feature has a phrase, groups
partition a window, bootstrap intervals behave, and the model card says what the metadata
says."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline as SklearnPipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from diab_readmit import feature_dictionary
from diab_readmit.contracts import CALENDAR_HISTORY_FEATURES
from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.model_card import interval
from diab_readmit.number_format import format_ranges
from diab_readmit.parameter_models import CalibrationSettings
from diab_readmit.pipelines.data_processing.nodes import (
    assign_encounter_dates,
    build_feature_store,
    build_silver_encounters,
    flag_cohort,
)
from diab_readmit.pipelines.data_processing.order_audit import audit_encounter_order
from diab_readmit.pipelines.data_processing.parameter_models import (
    CohortParams,
    EncounterDatesParams,
    OrderAuditParams,
)
from diab_readmit.pipelines.training import nodes
from diab_readmit.pipelines.training.bootstrap import (
    Resampling,
    metric_intervals,
    paired_auc_difference,
    weighted_metrics,
)
from diab_readmit.pipelines.training.calibration import calibrate
from diab_readmit.pipelines.training.decision_nodes import assess_decisions
from diab_readmit.pipelines.training.explanations import (
    _phrases,
    contributions,
    top_reasons,
)
from diab_readmit.pipelines.training.group_performance import (
    GroupColumn,
    TrustSettings,
    performance_by_group,
)
from diab_readmit.pipelines.training.registration import registration_bundle
from diab_readmit.pipelines.training.trust_nodes import (
    assess_trust,
    collect_evidence,
    explain_evaluation_windows,
)
from tests.pipelines.data_processing.conftest import make_raw

from .conftest import FEATURES, gold_windows, small_settings

FAST = TrustSettings(bootstrap={"replicates": 100})


def _fitted(name: str, snapshot):
    train = snapshot.train
    X, y = train[FEATURES], train["readmitted_30d"].to_numpy()
    model = {
        "xgboost": XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1),
        "random_forest": RandomForestClassifier(
            n_estimators=15, min_samples_leaf=5, random_state=0, n_jobs=1
        ),
        "logistic_regression": SklearnPipeline(
            [("standardize", StandardScaler()), ("lr", LogisticRegression())]
        ),
    }[name]
    return model.fit(X, y)


@pytest.mark.parametrize("name", ["xgboost", "random_forest", "logistic_regression"])
def test_contributions_sum_to_the_models_margin_logit_or_probability(snapshot, name):
    model = _fitted(name, snapshot)
    X = snapshot.test[FEATURES]
    explained = contributions(model, X)
    if name == "xgboost":
        expected, unit = model.predict(X, output_margin=True), "log-odds"
    elif name == "random_forest":
        expected, unit = model.predict_proba(X)[:, 1], "probability"
    else:
        expected, unit = model.decision_function(X), "log-odds"
    assert explained.values.shape == X.shape and explained.unit == unit
    np.testing.assert_allclose(explained.output(), expected, atol=1e-5)
    # A calibrated model is explained through the model inside its calibrator.
    train = snapshot.train
    calibrated = calibrate(
        model,
        train[FEATURES],
        train["readmitted_30d"].to_numpy(),
        CalibrationSettings(method="sigmoid"),
    )
    np.testing.assert_allclose(
        contributions(calibrated, X).output(), expected, atol=1e-5
    )


def test_top_reasons_of_a_registered_pipeline_phrase_gold_values(snapshot):
    model = SklearnPipeline(
        [
            ("preprocess", snapshot.scaler),
            ("classifier", _fitted("xgboost", snapshot)),
        ]
    )
    gold = gold_windows()["test"]
    reasons = top_reasons({"model": model, "metadata": {}}, gold, k=3)
    assert len(reasons) == len(gold) and (reasons.index == gold.index).all()
    assert list(reasons.columns[:3]) == [
        "reason_1",
        "reason_1_feature",
        "reason_1_contribution",
    ]
    sizes = reasons[[f"reason_{i}_contribution" for i in (1, 2, 3)]].abs().to_numpy()
    assert (np.diff(sizes, axis=1) <= 1e-12).all()  # largest first
    # The phrase carries the unscaled gold value, not the standardised model input.
    rows = reasons["reason_1_feature"] == "number_inpatient"
    assert rows.any()
    for phrase, count in zip(
        reasons.loc[rows, "reason_1"], gold.loc[rows, "number_inpatient"], strict=True
    ):
        assert phrase == f"{int(count)} inpatient stays in the year before"
    assert reasons.attrs == {
        "method": "TreeSHAP (XGBoost pred_contribs)",
        "unit": "log-odds",
    }


def test_every_gold_feature_has_a_phrase_unit_and_family():
    varied = [
        {"race": race, "gender": gender, "admission_type_id": str(kind)}
        for race, gender, kind in [
            ("Caucasian", "Female", 1),
            ("?", "Male", 2),
            ("Asian", "Unknown/Invalid", 7),
        ]
    ]
    raw = make_raw(varied)
    dates = EncounterDatesParams()
    audited, report = audit_encounter_order(
        assign_encounter_dates(
            build_silver_encounters(raw, "raw.csv"), dates, "raw.csv"
        ),
        OrderAuditParams(),
        dates,
    )
    gold = build_feature_store(flag_cohort(audited, CohortParams()), report)
    identity = {"encounter_id", "patient_nbr", "encounter_date", "partition_date"}
    inputs = [c for c in gold.columns if c not in identity]
    assert len(inputs) > 150
    for name in [*inputs, *CALENDAR_HISTORY_FEATURES]:
        assert name in feature_dictionary.FEATURE_DICTIONARY, name
        entry = feature_dictionary.FEATURE_DICTIONARY[name]
        assert entry.unit and entry.family in feature_dictionary.FAMILIES, name
        for value in (0.0, 1.0, 3.0):
            phrase = feature_dictionary.describe(name, value)
            assert phrase and "{" not in phrase and "_" not in phrase, (name, phrase)
        assert "{" not in feature_dictionary.label(name)
    assert feature_dictionary.describe("insulin_ord", 3) == "insulin dose increased"


def test_groups_partition_the_window_and_small_groups_are_marked():
    rng = np.random.default_rng(3)
    n = 2000
    race = rng.choice(
        ["caucasian", "african_american", "asian"], n, p=[0.7, 0.27, 0.03]
    )
    values = pd.DataFrame(
        {
            **{f"race_{level}": (race == level).astype(float) for level in set(race)},
            "race_missing": 0.0,
            "age_midpoint": rng.choice([15.0, 45.0, 65.0, 85.0], n),
        }
    )
    y = (rng.random(n) < 0.12).astype(int)
    score = np.clip(0.12 + 0.1 * y + rng.normal(0, 0.05, n), 0.01, 0.99)
    settings = TrustSettings(
        groups={
            "race": GroupColumn(column="race"),
            "age_band": GroupColumn(column="age_midpoint", edges=[40, 60, 80]),
            "payer": GroupColumn(column="payer"),
        }
    )
    table = performance_by_group(y, score, values, 0.2, settings)
    rows = pd.DataFrame(table["rows"])
    for grouping in ("race", "age_band"):
        members = rows[rows["grouping"] == grouping]
        assert members["n"].sum() == n  # every row in exactly one group
        assert members["positives"].sum() == y.sum()
    assert set(rows.loc[rows["grouping"] == "age_band", "group"]) == {
        "<40",
        "40-60",
        "60-80",
        "80+",
    }
    asian = rows[(rows["grouping"] == "race") & (rows["group"] == "asian")].iloc[0]
    assert asian["small"] and asian["n"] == (race == "asian").sum()  # shown, marked
    whole = rows[rows["grouping"] == "race"]
    flagged = (score >= 0.2).astype(int)
    assert np.isclose((whole["flag_rate"] * whole["n"]).sum(), flagged.sum())
    assert "payer" in table["unavailable"]


def test_weighted_metrics_equal_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.15).astype(int)
    score = np.round(np.clip(0.15 + 0.1 * y + rng.normal(0, 0.1, 3000), 0, 1), 2)
    weights = rng.integers(0, 3, 3000).astype(float)
    measured = weighted_metrics(y, score, weights[None, :])
    assert measured["auc_roc"][0] == pytest.approx(
        roc_auc_score(y, score, sample_weight=weights), abs=1e-12
    )
    assert measured["pr_auc"][0] == pytest.approx(
        average_precision_score(y, score, sample_weight=weights), abs=1e-12
    )


def _window(n: int, seed: int):
    rng = np.random.default_rng(seed)
    patients = rng.integers(0, int(n * 0.7), n)
    y = (rng.random(n) < 0.12).astype(int)
    score = np.clip(0.12 + 0.08 * y + rng.normal(0, 0.06, n), 0.001, 0.999)
    return y, score, patients


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_more_rows():
    resampling = Resampling(replicates=200, seed=1)
    widths = []
    for n in (1000, 16000):
        y, score, patients = _window(n, seed=n)
        measured = metric_intervals(y, score, patients, resampling)
        for metric in ("auc_roc", "pr_auc", "brier", "observed_minus_expected"):
            low, high = measured[metric]["interval"]
            assert low <= measured[metric]["estimate"] <= high, metric
        assert measured["auc_roc"]["estimate"] == pytest.approx(roc_auc_score(y, score))
        widths.append(np.diff(measured["auc_roc"]["interval"])[0])
    assert widths[1] < widths[0] / 2  # 16x the rows: about a quarter of the width
    # Seeded: the same call gives the same interval.
    again = metric_intervals(y, score, patients, resampling)
    assert again == measured


def test_paired_difference_says_tie_only_when_zero_is_inside():
    y, score, patients = _window(5000, seed=2)
    resampling = Resampling(replicates=200, seed=3)
    rng = np.random.default_rng(4)
    same = paired_auc_difference(
        y, score, score + rng.normal(0, 1e-4, len(y)), patients, resampling
    )
    assert same["tie"] and abs(same["estimate"]) < 1e-3
    worse = np.clip(score + rng.normal(0, 0.08, len(y)), 0, 1)
    better = paired_auc_difference(y, score, worse, patients, resampling)
    assert better["estimate"] > 0 and not better["tie"]
    assert better["interval"][0] > 0


def test_the_model_card_says_what_metadata_json_says(snapshot, tmp_path):
    training_config, estimator, search = small_settings("logistic_regression")
    tuned = nodes.tune_hyperparameters(snapshot, training_config, estimator, search)
    test_scores, oot_scores = nodes.score_evaluation_windows(tuned, snapshot)
    threshold = nodes.choose_decision_threshold(test_scores, training_config)
    metrics = nodes.evaluate_windows(test_scores, oot_scores, threshold)
    predictions, explanations = explain_evaluation_windows(
        tuned, snapshot, test_scores, oot_scores, threshold, FAST
    )
    assessment = assess_trust(snapshot, test_scores, oot_scores, threshold, FAST)
    assert len(predictions) == len(snapshot.test) + len(snapshot.oot)
    bundle = nodes.package_model(
        tuned,
        snapshot,
        threshold,
        metrics,
        {},
        collect_evidence(
            explanations,
            assessment,
            assess_decisions(test_scores, oot_scores, threshold, FAST),
        ),
        training_config,
        estimator,
        search,
    )
    registry = ModelRegistryDataset(path=str(tmp_path / "logistic_regression"))
    gate = {"decision": "promoted", "passed": True, "reasons": ["no champion yet"]}
    registry.save(registration_bundle(bundle, gate))
    version = registry.load()["version_id"]
    folder = tmp_path / "logistic_regression" / version
    metadata = json.loads((folder / "metadata.json").read_text())
    card = (folder / "model_card.md").read_text()

    assert metadata["model_card"] == "model_card.md"
    assert f"# Model card: logistic_regression {version}" in card
    assert metadata["sha256"] in card and metadata["snapshot_id"] in card
    for window in ("test", "oot"):
        for metric in ("auc_roc", "pr_auc", "brier"):
            measured = metadata["intervals"][window][metric]
            assert interval(measured) in card
            assert f"{measured['estimate']:.4f}" in card
            assert measured["estimate"] == pytest.approx(
                metadata["performance"][window][metric]
            )
        for row in metadata["groups"][window]["rows"]:
            assert f"| {row['grouping']} | {row['group']} | {row['n']:,} |" in card
    assert f"**{metadata['threshold']:.4f}**" in card
    assert f"{metadata['performance']['test']['calibration_slope']:.3f}" in card
    # Every number in the performance table is one of the metadata's.
    table = card.split("## Performance on test and OOT")[1].split("## Calibration")[0]
    numbers = {float(x) for x in re.findall(r"-?\d+\.\d{4}", table)}
    known = {
        round(v, 4)
        for window in ("test", "oot")
        for m in metadata["intervals"][window].values()
        for v in (m["estimate"], *m["interval"])
    } | {
        round(v, 4)
        for window in ("test", "oot")
        for v in metadata["performance"][window].values()
        if isinstance(v, float)
    }
    assert numbers and numbers <= known
    assert "TRIPOD+AI" in card and "Known limitations" in card
    # Net benefit, operating points and the smoothed calibration, from the metadata.
    utility = card.split("## Clinical utility: net benefit")[1].split("## Known")[0]
    for window, name in (("test", "test"), ("oot", "OOT")):
        curve = metadata["decision_curve"][window]
        assert f"{format_ranges(curve['beats_defaults'])} on {name}" in utility
        position = curve["thresholds"].index(0.2)
        shown = {
            "estimate": curve["model"][position],
            "interval": curve["model_interval"][position],
        }
        assert f"| 20% | {interval(shown)} |" in utility
        for row in metadata["operating_points"][window]:
            assert f"| {row['threshold']:.4f} | {row['flagged']:,} (" in utility
        calibrated = metadata["smoothed_calibration"][window]
        for key in ("observed_to_expected", "calibration_slope", "scaled_brier"):
            assert interval(calibrated[key], 3) in card
    chosen = metadata["operating_points"]["test"][0]
    assert chosen["point"] == "chosen" and chosen["threshold"] == metadata["threshold"]


def test_evaluation_predictions_keep_their_fingerprint_through_parquet(
    snapshot, tmp_path
):
    from diab_readmit.datasets.optional_parquet import OptionalParquetDataset
    from diab_readmit.pipelines.training.trust_nodes import predictions_fingerprint

    training_config, estimator, search = small_settings("logistic_regression")
    tuned = nodes.tune_hyperparameters(snapshot, training_config, estimator, search)
    test_scores, oot_scores = nodes.score_evaluation_windows(tuned, snapshot)
    threshold = nodes.choose_decision_threshold(test_scores, training_config)
    predictions, explanations = explain_evaluation_windows(
        tuned, snapshot, test_scores, oot_scores, threshold, FAST
    )
    stored = OptionalParquetDataset(filepath=str(tmp_path / "lr.parquet"))
    assert stored.load() is None  # not written yet
    stored.save(predictions)
    assert predictions_fingerprint(stored.load()) == explanations["predictions_sha256"]


def test_phrases_of_repeated_pairs_are_each_pairs_own_phrase():
    rng = np.random.default_rng(5)
    names = np.array(
        ["age_midpoint", "number_inpatient", "weight_recorded"], dtype=object
    )[rng.integers(0, 3, 5000)]
    values = rng.integers(0, 6, 5000).astype(np.float64) * 10
    values[rng.random(5000) < 0.05] = np.nan
    expected = [
        feature_dictionary.describe(n, v) for n, v in zip(names, values, strict=True)
    ]
    assert list(_phrases(names, values)) == expected
