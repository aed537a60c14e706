"""Monitoring on a world made by the project's own code: planted drift, an undrifted month,
outcomes arriving, miscalibration, and what cannot be monitored."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from diab_readmit.datasets.model_registry_versions import ModelRegistryVersionsDataset
from diab_readmit.pipelines.monitoring import nodes
from diab_readmit.pipelines.monitoring.parameter_models import MonitoringParams
from diab_readmit.pipelines.training.calibration import calibration_intercept

from .world import score

PARAMS = MonitoringParams()
#: The inputs the synthetic next month's drift moves (older ages, emergency-room admissions).
PLANTED = {"age_midpoint", "admission_source_emergency_room"}


def monitor(world, predictions, scored_features, labels=None, params=PARAMS):
    """The pipeline's nodes in order, as Kedro runs them."""
    versions = ModelRegistryVersionsDataset(path=str(world["registry"])).load()
    model = nodes.choose_monitored_model(predictions, versions)
    reference, reference_risk = nodes.select_reference(
        world["feature_store"], model, params
    )
    current = nodes.select_current(
        predictions,
        scored_features,
        world["label_store"] if labels is None else labels,
        model,
    )
    drift = nodes.measure_drift(reference, reference_risk, current, params)
    performance = nodes.measure_performance(current, params)
    estimated = nodes.estimate_performance(current, model, params)
    status = nodes.decide_status(
        drift, performance, estimated, model, reference, params
    )
    _, images = nodes.draw_monitoring_charts(
        drift, current, reference_risk, performance, params
    )
    html = nodes.render_monitoring_report(status, drift, performance, estimated, images)
    return {
        "status": status,
        "drift": drift,
        "performance": performance,
        "estimated": estimated,
        "html": html,
        "model": model,
        "reference": reference,
    }


@pytest.fixture(scope="module")
def drifted(world):
    month = world["drifted"]
    return monitor(world, month["predictions"], month["gold"])


@pytest.fixture(scope="module")
def undrifted(world):
    month = world["undrifted"]
    return monitor(world, month["predictions"], month["gold"])


def test_the_planted_drift_raises_an_alert_naming_the_drifted_inputs(drifted):
    status = drifted["status"]
    assert status["status"] == "alert"
    assert PLANTED <= set(status["alert_features"])
    (month,) = status["months"]
    assert month["month"] == "2009-01" and month["status"] == "alert"
    reason = status["reasons"][0]
    assert reason.startswith("2009-01:") and "(alert)" in reason
    assert all(feature in reason for feature in PLANTED)
    # Only what was planted (and what is computed from it) drifts.
    assert set(status["alert_features"]) <= PLANTED | {
        "admission_source_risk_score",
        "admission_source_physician_referral",
    }
    json.dumps(status)  # what monitoring.status writes


def test_an_undrifted_month_of_the_same_world_stays_ok(undrifted):
    status = undrifted["status"]
    assert status["status"] == "ok", status["reasons"]
    assert status["reasons"] == []
    assert status["alert_features"] == status["warn_features"] == []
    drift = undrifted["drift"]
    assert drift["psi"].max() < PARAMS.drift.psi_warn
    assert set(drift["level"]) == {"ok"}
    assert drift.loc[drift["feature"] == "risk", "psi"].item() < PARAMS.drift.psi_warn


def test_every_model_input_and_the_risk_are_compared_numerics_with_ks(world, drifted):
    model = world["bundle"]["model"]
    drift = drifted["drift"]
    assert set(drift["feature"]) == {*model.feature_names_in_, "risk"}
    numeric = drift[drift["kind"] == "numeric"]
    assert {"age_midpoint", "num_medications", "risk"} <= set(numeric["feature"])
    assert numeric["ks_statistic"].notna().all()
    assert drift.loc[drift["kind"] != "numeric", "ks_statistic"].isna().all()
    assert set(drift.loc[drift["feature"] == "diag_1", "kind"]) == {"categorical"}


def test_the_status_names_the_model_and_its_reference(world, drifted):
    model = drifted["status"]["model"]
    metadata = world["bundle"]["metadata"]
    assert model["version_id"] == world["bundle"]["version_id"]
    assert model["algorithm"] == "logistic_regression"
    assert model["train_window"] == metadata["temporal_splits"]["train"]
    assert model["snapshot_id"] == metadata["snapshot_id"]
    assert drifted["status"]["thresholds"]["drift"]["psi_alert"] == 0.25


def _scored_oot(world):
    """Half the OOT year scored by the model: six months whose outcomes are known."""
    store = world["feature_store"]
    oot = store[store["partition_date"].between("2008-01-01", "2008-06-01")]
    return score(world["bundle"], oot, extract="2008.csv"), oot


def test_performance_appears_once_outcomes_reach_the_label_store(world):
    predictions, features = _scored_oot(world)
    result = monitor(world, predictions, features)
    performance = result["performance"]
    assert len(performance) == 6 and performance["judged"].all()
    march = performance[performance["month"] == "2008-03"].iloc[0]
    rows = predictions[predictions["partition_date"] == pd.Timestamp("2008-03-01")]
    labels = world["label_store"].set_index("encounter_id")["readmitted_30d"]
    y = labels.loc[rows["encounter_id"]].to_numpy()
    assert march["labelled"] == len(rows) and march["readmissions"] == y.sum()
    assert march["auc_roc"] == pytest.approx(roc_auc_score(y, rows["risk"]))
    assert march["calibration_intercept"] == pytest.approx(
        calibration_intercept(y, rows["risk"].to_numpy())
    )
    assert march["observed_to_expected"] == pytest.approx(
        y.mean() / rows["risk"].mean()
    )
    assert 0.55 < performance["auc_roc"].median() < 0.9
    # Before the outcomes arrive, the same months are scored but not judged.
    without = monitor(
        world, predictions, features, labels=world["label_store"].iloc[:0]
    )["performance"]
    assert (without["labelled"] == 0).all() and not without["judged"].any()


def test_risks_that_are_too_low_raise_a_calibration_alert(world):
    predictions, features = _scored_oot(world)
    halved = predictions.assign(risk=predictions["risk"] / 2)
    status = monitor(world, halved, features)["status"]
    assert status["status"] == "alert"
    calibration = [r for r in status["reasons"] if "calibration intercept" in r]
    assert len(calibration) == 6
    assert all("risks too low on average" in r for r in calibration)


def test_nothing_scored_is_a_warning_that_says_what_to_run(world):
    empty = world["drifted"]["predictions"].iloc[:0]
    result = monitor(world, empty, world["drifted"]["gold"].iloc[:0])
    status = result["status"]
    assert status["status"] == "warn" and status["months"] == []
    assert "kedro run --pipelines inference" in status["reasons"][0]
    assert "No scored encounters yet" in result["html"]


def test_predictions_of_an_unregistered_version_are_refused_by_name(world):
    predictions = world["drifted"]["predictions"].assign(
        model_version="v20200101_000000"
    )
    versions = ModelRegistryVersionsDataset(path=str(world["registry"])).load()
    with pytest.raises(
        nodes.MonitoringError, match="logistic_regression/v20200101_000000"
    ):
        nodes.choose_monitored_model(predictions, versions)


def test_scored_encounters_without_feature_rows_are_refused(world):
    month = world["drifted"]
    versions = ModelRegistryVersionsDataset(path=str(world["registry"])).load()
    model = nodes.choose_monitored_model(month["predictions"], versions)
    missing = int(month["gold"]["encounter_id"].iloc[0])
    with pytest.raises(nodes.MonitoringError, match=f"encounter_id {missing}"):
        nodes.select_current(
            month["predictions"],
            month["gold"].iloc[1:],
            world["label_store"],
            model,
        )


def test_the_report_escapes_what_it_shows(world, drifted):
    html = drifted["html"]
    assert "<li>2009-01: " in html and "age_midpoint" in html
    status = dict(drifted["status"], reasons=["<script>alert(1)</script>"])
    escaped = nodes.render_monitoring_report(
        status, drifted["drift"], drifted["performance"], drifted["estimated"], {}
    )
    assert "<script>alert(1)</script>" not in escaped
    assert "&lt;script&gt;" in escaped
    assert np.isfinite(drifted["drift"]["psi"]).all()


def test_a_model_of_another_raw_file_has_no_reference_in_the_gold_stores():
    """Issue 25 item 3: a demo model's scorings against the real file's gold rows."""
    gold = pd.DataFrame({"age_midpoint": [55.0]})
    gold.attrs["raw_source"] = {"path": "raw.csv", "sha256": "ab" * 32, "demo": False}
    model = {
        "algorithm": "xgboost",
        "version_id": "v20261202_004128",
        "model": object(),
        "metadata": {
            "population": {
                "raw_source": {"sha256": "cd" * 32, "demo": True, "world": {"seed": 42}}
            }
        },
    }
    with pytest.raises(
        nodes.MonitoringError,
        match="was trained on demo data .* the gold stores now hold raw.csv",
    ):
        nodes.select_reference(gold, model, MonitoringParams())
