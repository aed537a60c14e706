"""PSI and KS on hand-made frames: values checked by hand, bins from the reference only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from diab_readmit.pipelines.monitoring.drift import (
    OTHER,
    bins_of,
    drift_table,
    population_stability_index,
)
from diab_readmit.pipelines.monitoring.parameter_models import DriftThresholds
from diab_readmit.pipelines.monitoring.status import worst

SETTINGS = DriftThresholds()


def test_psi_of_two_bins_matches_the_formula_by_hand():
    psi = population_stability_index(np.array([0.5, 0.5]), np.array([0.8, 0.2]))
    by_hand = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi == pytest.approx(by_hand)
    assert population_stability_index(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == 0


def test_an_empty_bin_gives_a_large_finite_psi():
    psi = population_stability_index(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
    assert math.isfinite(psi) and psi > 2


def test_quantile_bins_make_psi_blind_to_monotone_transforms():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.gamma(2.0, 3.0, 5000)})
    current = pd.DataFrame(
        {"x": rng.gamma(2.6, 3.0, 800), "partition_date": pd.Timestamp("2009-01-01")}
    )
    raw = drift_table(reference, current, ["x"], SETTINGS)
    scaled = drift_table(
        (reference - 5.0) / 4.0,
        current.assign(x=(current["x"] - 5.0) / 4.0),
        ["x"],
        SETTINGS,
    )
    assert raw["kind"].item() == "numeric"
    assert raw["psi"].item() == pytest.approx(scaled["psi"].item())
    assert raw["psi"].item() > SETTINGS.psi_warn  # a real shift of the shape
    assert raw["ks_statistic"].item() == pytest.approx(scaled["ks_statistic"].item())
    assert raw["ks_pvalue"].item() < 0.001


def test_categories_rare_or_unseen_in_the_reference_share_the_other_bin():
    reference = pd.Series(["428"] * 60 + ["414"] * 39 + ["V57"] * 1)
    bins = bins_of(reference, SETTINGS)
    assert bins.categories == ("428", "414")  # V57 is under min_category_share
    shares = bins.shares(pd.Series(["428", "999", "V57", None]))
    assert list(shares) == [0.25, 0.0, 0.75]  # 999, V57 and missing are "other"
    assert OTHER not in bins.categories


def test_binary_inputs_are_binned_by_value_and_a_small_month_is_not_judged():
    reference = pd.DataFrame({"flag": np.r_[np.zeros(900), np.ones(100)]})
    months = pd.DataFrame(
        {
            "flag": np.r_[np.zeros(50), np.ones(150), np.zeros(40), np.ones(10)],
            "partition_date": pd.to_datetime(
                ["2009-01-01"] * 200 + ["2009-02-01"] * 50
            ),
        }
    )
    table = drift_table(reference, months, ["flag"], SETTINGS)
    assert list(table["month"]) == ["2009-01", "2009-02"]
    assert list(table["kind"]) == ["binary", "binary"]
    assert table["ks_statistic"].isna().all()
    january, february = table.itertuples()
    assert january.level == "alert" and january.psi > 1
    assert february.rows == 50 and february.level == "not judged"


def test_the_worst_level_wins():
    assert worst([]) == "ok"
    assert worst(["ok", "warn"]) == "warn"
    assert worst(["warn", "alert", "ok"]) == "alert"


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="psi_alert=0.05 is below psi_warn=0.1"):
        DriftThresholds(psi_alert=0.05)


def test_ks_is_measured_for_numeric_inputs_binned_by_value_too():
    reference = pd.DataFrame({"age": np.repeat([45.0, 55.0, 65.0, 75.0, 85.0], 200)})
    current = pd.DataFrame(
        {"age": np.repeat([65.0, 75.0, 85.0], 100), "partition_date": "2009-01-01"}
    )
    row = drift_table(reference, current, ["age"], SETTINGS).iloc[0]
    assert row["kind"] == "numeric"
    assert row["ks_statistic"] == pytest.approx(0.4)
    assert row["level"] == "alert"
