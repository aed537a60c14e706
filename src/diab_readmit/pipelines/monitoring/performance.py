"""How the risks of each scored month held up once its outcomes are known.

Calibration is measured as in training (``training.calibration``): in readmission models it
is what drifts first (Davis et al., JAMIA 2017), before the ranking does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from diab_readmit.contracts import LABEL
from diab_readmit.pipelines.training.calibration import (
    calibration_intercept,
    calibration_slope,
)

from .parameter_models import PerformanceThresholds

COLUMNS = [
    "month",
    "scored",
    "expected_rate",
    "labelled",
    "readmissions",
    "observed_rate",
    "expected_rate_labelled",
    "observed_to_expected",
    "auc_roc",
    "pr_auc",
    "brier",
    "calibration_intercept",
    "calibration_slope",
    "judged",
]


def _metrics(y: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    if len(np.unique(y)) < 2:
        return dict.fromkeys(
            ("auc_roc", "pr_auc", "calibration_intercept", "calibration_slope"), np.nan
        ) | {"brier": float(brier_score_loss(y, risk)) if len(y) else np.nan}
    return {
        "auc_roc": float(roc_auc_score(y, risk)),
        "pr_auc": float(average_precision_score(y, risk)),
        "brier": float(brier_score_loss(y, risk)),
        "calibration_intercept": calibration_intercept(y, risk),
        "calibration_slope": calibration_slope(y, risk),
    }


def monthly_performance(
    scored: pd.DataFrame, settings: PerformanceThresholds
) -> pd.DataFrame:
    """Observed against expected readmissions, discrimination and calibration per month.

    Args:
        scored: one row per scored encounter: ``partition_date``, ``risk`` and
            ``readmitted_30d`` (missing while the outcome is not in the label store).
        settings: how many labelled encounters and readmissions make a month judged.

    Returns:
        One row per month: scored encounters and their mean risk (``expected_rate``), the
        labelled ones, their observed and expected rate and its ratio, ROC-AUC, PR-AUC,
        Brier score, calibration intercept and slope (NaN without both outcomes), and
        ``judged`` (enough outcomes to compare with thresholds).
    """
    rows = []
    for month, group in scored.groupby("partition_date", sort=True):
        labelled = group[group[LABEL].notna()]
        y = labelled[LABEL].to_numpy(np.int64)
        risk = labelled["risk"].to_numpy(np.float64)
        expected = float(risk.mean()) if len(risk) else np.nan
        observed = float(y.mean()) if len(y) else np.nan
        rows.append(
            {
                "month": pd.Timestamp(month).strftime("%Y-%m"),
                "scored": len(group),
                "expected_rate": float(group["risk"].mean()),
                "labelled": len(labelled),
                "readmissions": int(y.sum()),
                "observed_rate": observed,
                "expected_rate_labelled": expected,
                "observed_to_expected": observed / expected if expected else np.nan,
                **_metrics(y, risk),
                "judged": len(y) >= settings.min_labelled
                and int(y.sum()) >= settings.min_readmissions,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
