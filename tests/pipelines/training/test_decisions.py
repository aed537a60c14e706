"""Decisions a care team can make: net benefit against a hand computation, the capacity
rule's flagged share, operating points chosen on test only, the smoothed calibration
against the project's own calibration metrics, and the gate's floor at an operating point."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from diab_readmit.parameter_models import TrainingConfig
from diab_readmit.pipelines.training import nodes
from diab_readmit.pipelines.training.bootstrap import Resampling
from diab_readmit.pipelines.training.calibration import (
    calibration_intercept,
    calibration_slope,
)
from diab_readmit.pipelines.training.calibration_curve import smoothed_calibration
from diab_readmit.pipelines.training.decision_curves import (
    benefit_ranges,
    decision_curve,
    net_benefit,
)
from diab_readmit.pipelines.training.operating_points import (
    CapacityError,
    capacity_table,
)
from diab_readmit.pipelines.training.promotion import PromotionParams, gate_challenger

from .conftest import make_snapshot
from .test_promotion import _package

#: Ten encounters: risks and outcomes small enough to count by hand.
Y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
RISK = np.array([0.9, 0.8, 0.6, 0.35, 0.3, 0.25, 0.2, 0.1, 0.05, 0.02])


def test_net_benefit_equals_the_hand_computation():
    thresholds = np.array([0.03, 0.25, 0.5, 0.95])
    measured = net_benefit(Y, RISK, np.ones((1, 10)), thresholds)
    # t = 0.25: flagged the six rows with risk >= 0.25; TP 3 (rows 1, 3, 6), FP 3.
    # NB = 3/10 - 3/10 * 0.25/0.75 = 0.3 - 0.1 = 0.2
    # t = 0.5: flagged 0.9, 0.8, 0.6: TP 2, FP 1: 0.2 - 0.1 * 1 = 0.1
    # t = 0.03: all but the last flagged: TP 3, FP 6: 0.3 - 0.6 * 0.03/0.97
    # t = 0.95: nobody flagged: 0
    expected = [0.3 - 0.6 * 0.03 / 0.97, 0.2, 0.1, 0.0]
    np.testing.assert_allclose(measured["model"][0], expected, atol=1e-12)
    # Treat all: prevalence 0.3, so 0.3 - 0.7 * t / (1 - t).
    np.testing.assert_allclose(
        measured["treat_all"][0], 0.3 - 0.7 * thresholds / (1 - thresholds)
    )
    # A patient drawn twice counts twice: weights are resampled patients.
    twice = np.ones((1, 10))
    twice[0, 0] = 2  # the 0.9 readmission: 11 encounters, TP 4 at t = 0.5
    doubled = net_benefit(Y, RISK, twice, np.array([0.5]))
    assert doubled["model"][0, 0] == pytest.approx(3 / 11 - 1 / 11)


def test_ranges_of_benefit_are_the_runs_where_it_holds():
    t = np.array([0.02, 0.03, 0.04, 0.05, 0.06])
    assert benefit_ranges(t, np.array([False, True, True, False, True])) == [
        [0.03, 0.04],
        [0.06, 0.06],
    ]
    assert benefit_ranges(t, np.zeros(5, dtype=bool)) == []


def _window(n: int, seed: int, informative: bool = True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    risk = 1 / (1 + np.exp(-(-2.1 + 0.9 * x)))
    y = (rng.random(n) < risk).astype(int)
    score = risk if informative else rng.permutation(risk)
    return y, score, rng.integers(0, int(0.8 * n), n)


def test_an_informative_model_beats_both_defaults_and_a_shuffled_one_does_not():
    thresholds = np.round(np.arange(0.02, 0.401, 0.01), 2)
    resampling = Resampling(replicates=200, seed=1, stratified=False)
    curve = decision_curve(*_window(8000, 0), thresholds, resampling)
    for estimate, (low, high) in zip(
        curve["model"], curve["model_interval"], strict=True
    ):
        assert low <= estimate <= high
    assert curve["beats_defaults_surely"], curve["beats_defaults"]
    first, last = curve["beats_defaults_surely"][0]
    assert first <= 0.15 and last >= 0.25  # around and above the ~12% base rate
    shuffled = decision_curve(
        *_window(8000, 0, informative=False), thresholds, resampling
    )
    assert not shuffled["beats_defaults_surely"]


def _scores(n: int, seed: int, shift: float = 0.0):
    y, score, patients = _window(n, seed)
    months = np.arange(n) % 12
    return {
        "y_true": y,
        "y_score": np.clip(score + shift, 0, 1),
        "patient_nbr": patients,
        "month": np.datetime64("2006-01", "M") + months,
    }


def test_the_capacity_rule_flags_its_share_of_the_test_window():
    test = _scores(5000, 2)
    chosen = nodes.choose_decision_threshold(
        test, TrainingConfig(threshold_rule="capacity", capacity={"share": 0.2})
    )
    flagged = np.mean(test["y_score"] >= chosen["threshold"])
    assert flagged == pytest.approx(0.2, abs=1 / 5000)
    assert chosen["criterion_value"] == pytest.approx(flagged)
    assert chosen["window"] == "test"
    # 100 a month out of ~417 a month (5000 encounters over 12 months): 24%.
    monthly = nodes.choose_decision_threshold(
        test, TrainingConfig(threshold_rule="capacity", capacity={"per_month": 100})
    )
    per_month = np.sum(test["y_score"] >= monthly["threshold"]) / 12
    assert per_month == pytest.approx(100, abs=1)
    with pytest.raises(CapacityError, match="capacity.per_month=500"):
        nodes.choose_decision_threshold(
            test,
            TrainingConfig(threshold_rule="capacity", capacity={"per_month": 500}),
        )


def test_the_net_benefit_rule_flags_from_the_stated_threshold():
    test = _scores(3000, 3)
    chosen = nodes.choose_decision_threshold(
        test, TrainingConfig(threshold_rule="net_benefit", net_benefit_threshold=0.2)
    )
    assert chosen["threshold"] == 0.2
    flagged = test["y_score"] >= 0.2
    tp, fp = (
        np.sum(flagged & (test["y_true"] == 1)),
        np.sum(flagged & (test["y_true"] == 0)),
    )
    assert chosen["criterion_value"] == pytest.approx((tp - fp * 0.25) / 3000)
    with pytest.raises(ValidationError, match="threshold_rule 'capacities'"):
        TrainingConfig(threshold_rule="capacities")


def test_operating_points_take_their_thresholds_from_test_and_show_the_oot_shift():
    test, oot = _scores(5000, 4), _scores(3000, 5, shift=0.05)
    chosen = {"threshold": 0.3}
    table = capacity_table({"test": test, "oot": oot}, chosen, [0.05, 0.2])
    for window in ("test", "oot"):
        assert [row["point"] for row in table[window]] == [
            "chosen",
            "capacity",
            "capacity",
        ]
        assert [row["threshold"] for row in table[window]] == [
            row["threshold"] for row in table["test"]
        ]
    at_20 = {window: table[window][2] for window in ("test", "oot")}
    assert at_20["test"]["flagged_share"] == pytest.approx(0.2, abs=1e-3)
    assert at_20["oot"]["flagged_share"] > 0.25  # risks 0.05 higher: more flagged
    row = at_20["test"]
    flagged = test["y_score"] >= row["threshold"]
    caught = int(test["y_true"][flagged].sum())
    assert row["caught"] == caught
    assert row["sensitivity"] == pytest.approx(caught / test["y_true"].sum())
    assert row["ppv"] == pytest.approx(caught / flagged.sum())
    assert row["caught_per_100_flagged"] == pytest.approx(100 * row["ppv"])
    assert row["flagged_per_caught"] == pytest.approx(flagged.sum() / caught)
    assert row["flagged_per_month"] == pytest.approx(flagged.sum() / 12)
    assert row["expected_among_flagged"] == pytest.approx(
        test["y_score"][flagged].sum()
    )


def test_smoothed_calibration_agrees_with_the_calibration_metrics_and_sees_bias():
    y, risk, patients = _window(10000, 6)
    resampling = Resampling(replicates=200, seed=2, stratified=False)
    calibrated = smoothed_calibration(y, risk, patients, resampling)
    assert calibrated["calibration_slope"]["estimate"] == pytest.approx(
        calibration_slope(y, risk), abs=1e-3
    )
    assert calibrated["calibration_in_the_large"]["estimate"] == pytest.approx(
        calibration_intercept(y.astype(float), risk), abs=1e-6
    )
    for key, ideal in (("observed_to_expected", 1.0), ("calibration_slope", 1.0)):
        low, high = calibrated[key]["interval"]
        assert low <= ideal <= high, key
    rate = y.mean()
    brier = np.mean((y - risk) ** 2)
    assert calibrated["scaled_brier"]["estimate"] == pytest.approx(
        1 - brier / (rate * (1 - rate))
    )
    curve = calibrated["curve"]
    inside = np.mean(
        (np.array(curve["low"]) <= curve["risk"])
        & (np.array(curve["high"]) >= curve["risk"])
    )
    assert inside > 0.8  # the diagonal lies in the band almost everywhere
    # Risks that are half what they should be: O/E about 2, the curve above the diagonal.
    halved = smoothed_calibration(y, risk / 2, patients, resampling)
    assert halved["observed_to_expected"]["interval"][0] > 1.7
    assert np.all(
        np.array(halved["curve"]["observed"]) > np.array(halved["curve"]["risk"])
    )


def test_the_gate_can_state_a_floor_at_an_operating_point():
    snapshot = make_snapshot()
    package, scores = _package(snapshot, "good")
    floors = {"min_auc_roc": 0.0, "max_brier": 1.0, "max_ece": 1.0}
    strict = PromotionParams(
        floors={**floors, "operating_point": {"capacity": 0.2, "min_sensitivity": 0.99}}
    )
    gate = gate_challenger(package, scores, snapshot, None, None, strict)
    assert gate["decision"] == "rejected"
    (reason,) = gate["reasons"]
    assert reason.startswith("test sensitivity at 20% capacity") and "0.9900" in reason
    measured = gate["operating_point"]
    assert measured["flagged_share"] == pytest.approx(0.2, abs=0.01)
    lenient = PromotionParams(
        floors={**floors, "operating_point": {"capacity": 0.2, "min_sensitivity": 0.1}}
    )
    assert gate_challenger(package, scores, snapshot, None, None, lenient)["passed"]
