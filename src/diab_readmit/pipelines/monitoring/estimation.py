"""Performance estimated before the outcomes arrive: confidence-based performance estimation.

A month's outcomes reach the label store 30+ days after discharge. Until then its calibrated
risks still say what to expect, as NannyML's CBPE reads them: if a risk of 0.3 means a 30%
chance of readmission, each encounter is 0.3 of a readmission and 0.7 of a non-readmission,
and the month's expected ROC-AUC is the ROC-AUC of those fractional outcomes (every
fractional positive against every fractional negative scored lower); the expected rate is
the mean risk; the expected sensitivity and PPV at the model's threshold follow the same
way. The interval is the spread of what the month could realise if its risks are right:
outcomes drawn from the risks, ``replicates`` times, each scored exactly
(``bootstrap.weighted_metrics`` on the same rows with the draws as weights).

The estimate assumes calibration holds on the new month; it cannot see a change in how
outcomes follow the inputs (concept drift), only changes in who is scored. The months whose
outcomes have arrived show how well it tracked (``realised_*`` beside ``estimated_*``).
Written here rather than taken from NannyML (which pins ``xgboost<3`` and Python < 3.13):
these lines reuse the project's weighted metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from diab_readmit.contracts import LABEL
from diab_readmit.pipelines.training.bootstrap import (
    block_replicates,
    percentile_interval,
    weighted_metrics,
)

from .parameter_models import EstimationSettings

COLUMNS = [
    "month",
    "scored",
    "estimated_auc_roc",
    "estimated_auc_roc_low",
    "estimated_auc_roc_high",
    "estimated_rate",
    "estimated_rate_low",
    "estimated_rate_high",
    "estimated_sensitivity",
    "estimated_ppv",
    "labelled",
    "realised_auc_roc",
    "realised_rate",
    "realised_within_interval",
]


def _fractional_auc(risk: np.ndarray, positive_weights: np.ndarray) -> np.ndarray:
    """ROC-AUC of ``risk`` when row i is ``positive_weights[r, i]`` of a readmission and the
    rest of a non-readmission, per row r of ``positive_weights``."""
    both = np.concatenate([risk, risk])
    outcome = np.r_[np.ones(len(risk)), np.zeros(len(risk))]
    weights = np.concatenate([positive_weights, 1 - positive_weights], axis=1)
    return weighted_metrics(outcome, both, weights, auc_only=True)["auc_roc"]


def estimate_month(
    risk: np.ndarray, threshold: float, settings: EstimationSettings
) -> dict[str, Any]:
    """Expected ROC-AUC, readmission rate, sensitivity and PPV of one month's risks.

    Returns ``{"auc_roc": {"estimate", "interval"}, "rate": {...}, "sensitivity",
    "ppv"}``: the interval is where the month's realised value should fall if its risks
    are calibrated.
    """
    risk = np.asarray(risk, dtype=np.float64)
    if len(risk) < 2:
        nothing = {"estimate": None, "interval": [None, None]}
        return {"auc_roc": nothing, "rate": nothing, "sensitivity": None, "ppv": None}
    rng = np.random.default_rng(settings.seed)
    aucs, rates = [], []
    # Fewer draws at a time for a large month: each draw is two weights per encounter.
    block = min(settings.block, block_replicates(2 * len(risk)))
    for start in range(0, settings.replicates, block):
        size = min(block, settings.replicates - start)
        drawn = (rng.random((size, len(risk))) < risk).astype(np.float64)
        aucs.append(_fractional_auc(risk, drawn))
        rates.append(drawn.mean(axis=1))
    flagged = risk >= threshold
    return {
        "auc_roc": {
            "estimate": float(_fractional_auc(risk, risk[None, :])[0]),
            "interval": percentile_interval(np.concatenate(aucs), settings.level),
        },
        "rate": {
            "estimate": float(risk.mean()),
            "interval": percentile_interval(np.concatenate(rates), settings.level),
        },
        "sensitivity": float(risk[flagged].sum() / risk.sum()),
        "ppv": float(risk[flagged].mean()) if flagged.any() else None,
    }


def _realised_auc(y: np.ndarray, risk: np.ndarray) -> float | None:
    return float(roc_auc_score(y, risk)) if len(np.unique(y)) == 2 else None


def estimated_performance(
    scored: pd.DataFrame, threshold: float, settings: EstimationSettings
) -> pd.DataFrame:
    """Per scored month: estimated ROC-AUC and rate with intervals, expected sensitivity and
    PPV at ``threshold``, and, once its outcomes are in (at least
    ``settings.min_labelled_share`` of its encounters labelled), the realised ROC-AUC and
    rate of the labelled encounters beside them.

    Args:
        scored: one row per scored encounter: ``partition_date``, ``risk`` and
            ``readmitted_30d`` (missing until the label store has it).
        threshold: the model's registered threshold.
        settings: ``monitoring.estimation``.
    """
    rows = []
    for month, group in scored.groupby("partition_date", sort=True):
        risk = group["risk"].to_numpy(np.float64)
        estimate = estimate_month(risk, threshold, settings)
        labelled = group[group[LABEL].notna()]
        complete = len(labelled) >= settings.min_labelled_share * len(group)
        y = labelled[LABEL].to_numpy(np.int64)
        realised_auc = (
            _realised_auc(y, labelled["risk"].to_numpy(np.float64))
            if complete
            else None
        )
        low, high = estimate["auc_roc"]["interval"]
        rows.append(
            {
                "month": pd.Timestamp(month).strftime("%Y-%m"),
                "scored": len(group),
                "estimated_auc_roc": estimate["auc_roc"]["estimate"],
                "estimated_auc_roc_low": low,
                "estimated_auc_roc_high": high,
                "estimated_rate": estimate["rate"]["estimate"],
                "estimated_rate_low": estimate["rate"]["interval"][0],
                "estimated_rate_high": estimate["rate"]["interval"][1],
                "estimated_sensitivity": estimate["sensitivity"],
                "estimated_ppv": estimate["ppv"],
                "labelled": len(labelled),
                "realised_auc_roc": realised_auc,
                "realised_rate": float(y.mean()) if complete and len(y) else None,
                "realised_within_interval": None
                if realised_auc is None
                else bool(low <= realised_auc <= high),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
