"""The batch-scoring summary: flagged encounters, the readmissions their risks expect, and
the model's capacities applied to the month, counted by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from diab_readmit.pipelines.inference.summary import summarise_scoring


def _predictions(risk: np.ndarray, threshold: float, extract: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "encounter_id": np.arange(len(risk)),
            "partition_date": pd.Timestamp("2009-01-01"),
            "risk": risk,
            "flagged": risk >= threshold,
            "extract": extract,
        }
    )


def test_the_summary_counts_flagged_and_expected_readmissions():
    risk = np.linspace(0.01, 0.5, 200)
    champion = {
        "algorithm": "xgboost",
        "version_id": "v1",
        "metadata": {
            "threshold": 0.3,
            "threshold_rule": "capacity",
            "operating_points": {
                "test": [
                    {"point": "chosen", "capacity": None, "threshold": 0.3},
                    {"point": "capacity", "capacity": 0.1, "threshold": 0.45},
                    {"point": "capacity", "capacity": 0.2, "threshold": 0.4},
                ]
            },
        },
    }
    predictions = pd.concat(
        [_predictions(risk, 0.3, "2009-01.csv"), _predictions(risk[:50], 0.3, "x.csv")]
    )
    summary = summarise_scoring(predictions, champion)
    assert list(summary["extracts"]) == ["2009-01.csv", "x.csv"]
    january = summary["extracts"]["2009-01.csv"]
    flagged = risk >= 0.3
    assert january["scored"] == 200 and january["flagged"] == flagged.sum()
    assert january["expected_among_flagged"] == pytest.approx(risk[flagged].sum())
    assert january["expected_readmissions"] == pytest.approx(risk.sum())
    assert january["sentence"].startswith(f"2009-01: {flagged.sum()} of 200 flagged")
    ten, twenty = january["capacities"]
    assert ten["capacity"] == 0.1 and ten["top_flagged"] == 20
    assert ten["top_expected_readmissions"] == pytest.approx(np.sort(risk)[-20:].sum())
    assert ten["flagged_at_test_threshold"] == np.sum(risk >= 0.45)
    assert twenty["expected_at_test_threshold"] == pytest.approx(
        risk[risk >= 0.4].sum()
    )
    assert summary["extracts"]["x.csv"]["flagged"] == 0
