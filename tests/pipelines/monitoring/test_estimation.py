"""Performance estimated before the outcomes arrive: the estimate follows a planted shift in
who is scored the right way, the realised values fall in its intervals, and a month
estimated below the model's floor is an alert in monitoring_status.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from diab_readmit.pipelines.monitoring import nodes
from diab_readmit.pipelines.monitoring.estimation import (
    estimate_month,
    estimated_performance,
)
from diab_readmit.pipelines.monitoring.parameter_models import (
    EstimationSettings,
    MonitoringParams,
)

from .test_nodes import monitor

SETTINGS = EstimationSettings(replicates=300, seed=3)
#: The true model: readmission follows two inputs; the fitted model is calibrated on it.
COEFFICIENTS, INTERCEPT = np.array([0.9, 0.5]), -2.2


def _encounters(n: int, seed: int, spread: float = 1.0, centre: float = 0.0):
    """Inputs, true outcomes: ``spread`` narrows the case mix, ``centre`` moves it."""
    rng = np.random.default_rng(seed)
    x = centre + spread * rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-(INTERCEPT + x @ COEFFICIENTS)))
    return x, (rng.random(n) < p).astype(int)


@pytest.fixture(scope="module")
def model():
    x, y = _encounters(40000, 0)
    return LogisticRegression().fit(x, y)


def _month(model, month: str, seed: int, **shift) -> pd.DataFrame:
    x, y = _encounters(4000, seed, **shift)
    return pd.DataFrame(
        {
            "partition_date": pd.Timestamp(month),
            "risk": model.predict_proba(x)[:, 1],
            "readmitted_30d": y.astype(float),
        }
    )


def test_the_estimate_moves_with_a_planted_shift_and_the_realised_values_follow(model):
    months = pd.concat(
        [
            _month(model, "2009-01-01", 1),  # as trained
            _month(model, "2009-02-01", 2, spread=0.5),  # a narrower case mix
            _month(model, "2009-03-01", 3, centre=0.6),  # sicker patients
        ]
    )
    table = estimated_performance(months, 0.2, SETTINGS).set_index("month")
    base, narrow, sicker = (table.loc[m] for m in ("2009-01", "2009-02", "2009-03"))
    # A narrower case mix is harder to rank: the estimate drops, as the realised AUC does.
    assert narrow["estimated_auc_roc"] < base["estimated_auc_roc"] - 0.05
    assert narrow["realised_auc_roc"] < base["realised_auc_roc"] - 0.05
    # Sicker patients: more readmissions expected, and observed.
    assert sicker["estimated_rate"] > base["estimated_rate"] + 0.05
    assert sicker["realised_rate"] > base["realised_rate"] + 0.05
    for row in (base, narrow, sicker):
        assert row["realised_within_interval"]
        assert (
            row["estimated_rate_low"]
            <= row["realised_rate"]
            <= row["estimated_rate_high"]
        )
        assert abs(row["estimated_auc_roc"] - row["realised_auc_roc"]) < 0.03
    # Before the outcomes arrive the estimate is the same; nothing realised yet.
    unlabelled = months.assign(readmitted_30d=np.nan)
    before = estimated_performance(unlabelled, 0.2, SETTINGS).set_index("month")
    pd.testing.assert_series_equal(
        before["estimated_auc_roc"], table["estimated_auc_roc"]
    )
    assert before["realised_auc_roc"].isna().all()


def test_the_estimated_auc_is_the_mean_auc_of_outcomes_drawn_from_the_risks():
    rng = np.random.default_rng(5)
    risk = 1 / (1 + np.exp(-(-2 + rng.normal(size=3000))))
    drawn = [roc_auc_score(rng.random(3000) < risk, risk) for _ in range(300)]
    estimate = estimate_month(risk, 0.2, SETTINGS)
    assert estimate["auc_roc"]["estimate"] == pytest.approx(np.mean(drawn), abs=0.003)
    low, high = estimate["auc_roc"]["interval"]
    assert low < np.percentile(drawn, 5) and np.percentile(drawn, 95) < high
    flagged = risk >= 0.2
    assert estimate["sensitivity"] == pytest.approx(risk[flagged].sum() / risk.sum())
    assert estimate["ppv"] == pytest.approx(risk[flagged].mean())


def test_an_estimate_below_the_floor_is_an_alert_the_status_json_carries(world):
    month = world["undrifted"]
    strict = MonitoringParams(estimation={"auc_floor": 0.99, "replicates": 100})
    result = monitor(world, month["predictions"], month["gold"], params=strict)
    status = result["status"]
    assert status["status"] == "alert"
    (entry,) = status["months"]
    estimated = entry["estimated"]
    assert estimated["below_floor"] and estimated["auc_floor"] == 0.99
    low, high = estimated["auc_roc_interval"]
    assert low <= estimated["auc_roc"] <= high < 0.99
    assert any(
        reason.startswith(f"{entry['month']}: ROC-AUC estimated from the month's risks")
        for reason in status["reasons"]
    )
    assert "Performance estimated before the outcomes arrive" in result["html"]
    json.dumps(status)
    # By default the floor is the model's own: the gate's, as its metadata records it.
    gated = dict(result["model"])
    gated["metadata"] = {
        **gated["metadata"],
        "gate": {"floors": {"min_auc_roc": 0.6}},
    }
    default = nodes.decide_status(
        result["drift"],
        result["performance"],
        result["estimated"],
        gated,
        result["reference"],
        MonitoringParams(),
    )
    assert default["model"]["auc_floor"] == 0.6
    assert not default["months"][0]["estimated"]["below_floor"]
    assert default["status"] == "ok", default["reasons"]
