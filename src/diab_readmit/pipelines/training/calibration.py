"""Risks that mean what they say: the calibration holdout, the calibrator, calibration metrics.

A model's score is read as a probability ("a 0.3 is a 30% risk of readmission within 30
days"), so the registered model maps scores to observed rates. The calibrator is fitted on
a share of the TRAIN window that the final fit never sees — by default its most recent
encounters, because risks are used on later patients and both the base rate and the
model's discrimination drift over time (scikit-learn's ``CalibratedClassifierCV`` around
the frozen, fitted model); test and OOT only measure how well it worked:

- calibration intercept (calibration-in-the-large): the logistic intercept ``a`` in
  ``logit P(y) = a + logit(p)``; 0 when the risks are right on average, > 0 when they are too
  low;
- calibration slope: ``b`` in ``logit P(y) = a + b logit(p)``; 1 is ideal, < 1 means risks are
  too extreme (too spread out), > 1 too timid;
- expected calibration error (ECE): over ten equal-count bins of the risk, the row-weighted
  mean of |observed rate - mean risk|.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from diab_readmit.errors import UserFixableError
from diab_readmit.parameter_models import CalibrationSettings
from diab_readmit.patient_folds import StratifiedPatientKFold

#: Bins of the expected calibration error.
ECE_BINS = 10
_EPSILON = 1e-6


class CalibrationError(UserFixableError, ValueError):
    """The train window cannot provide a calibration holdout."""


def calibration_split(
    y: np.ndarray,
    groups: np.ndarray,
    order: np.ndarray,
    settings: CalibrationSettings,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, calibration rows) of the train window.

    ``recent``: the last ``holdout_fraction`` of the rows by ``order`` (encounter time);
    ``patients``: a stratified, patient-grouped share (``groups``). With ``method: none``
    every row is a fit row and there is no calibration row.
    """
    everything = np.arange(len(y))
    if settings.method == "none":
        return everything, everything[:0]
    if settings.holdout == "recent":
        by_time = np.argsort(np.asarray(order), kind="stable")
        cut = len(y) - max(1, round(settings.holdout_fraction * len(y)))
        fit_rows, calibration_rows = by_time[:cut], by_time[cut:]
    else:
        splits = max(2, round(1 / settings.holdout_fraction))
        splitter = StratifiedPatientKFold(n_splits=splits, random_state=seed)
        fit_rows, calibration_rows = next(splitter.split(everything, y, groups))
    if len(np.unique(y[calibration_rows])) < 2 or len(np.unique(y[fit_rows])) < 2:
        raise CalibrationError(
            f"The train window ({len(y)} rows, {int(np.sum(y))} readmitted) is too small to "
            f"hold out {settings.holdout_fraction:.0%} of it ({settings.holdout}) with both "
            f"outcomes for calibration. Widen temporal_splits.train, or set "
            f"training_config.calibration.method: none (risks are then uncalibrated)."
        )
    return np.sort(fit_rows), np.sort(calibration_rows)


def calibrate(
    classifier: BaseEstimator,
    X: pd.DataFrame,
    y: np.ndarray,
    settings: CalibrationSettings,
) -> BaseEstimator:
    """``classifier`` (fitted, left as it is) with a calibrator fitted on ``X``, ``y``."""
    if settings.method == "none":
        return classifier
    # ensemble=False: one calibrator over the frozen model's scores, so scoring a row costs
    # one prediction of the model, not one per fold.
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(classifier), method=settings.method, ensemble=False
    )
    return calibrated.fit(X, y)


def uncalibrated(model: BaseEstimator) -> BaseEstimator:
    """The fitted model inside a calibrated one (itself if not calibrated)."""
    if isinstance(model, CalibratedClassifierCV):
        inner = model.calibrated_classifiers_[0].estimator
        return inner.estimator if isinstance(inner, FrozenEstimator) else inner
    return model


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPSILON, 1 - _EPSILON)
    return np.log(p / (1 - p))


def calibration_intercept(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """``a`` in ``logit P(y) = a + logit(p)`` (maximum likelihood, slope fixed at 1)."""
    offset = _logit(y_score)

    def score(a: float) -> float:
        return float(np.sum(y_true - 1 / (1 + np.exp(-(a + offset)))))

    return float(brentq(score, -20.0, 20.0))


def calibration_slope(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """``b`` in ``logit P(y) = a + b logit(p)`` (unpenalised logistic regression)."""
    model = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000)
    model.fit(_logit(y_score).reshape(-1, 1), y_true)
    return float(model.coef_[0, 0])


def expected_calibration_error(
    y_true: np.ndarray, y_score: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Row-weighted mean |observed rate - mean risk| over ``bins`` equal-count bins."""
    order = np.argsort(y_score, kind="stable")
    error = 0.0
    for members in np.array_split(order, min(bins, len(order))):
        error += len(members) * abs(
            float(np.mean(y_true[members])) - float(np.mean(y_score[members]))
        )
    return error / max(len(order), 1)


def calibration_metrics(y_true: np.ndarray, y_score: np.ndarray) -> dict[str, Any]:
    """Intercept, slope and ECE of one window (NaN for intercept and slope with one class)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_score = np.asarray(y_score, dtype=np.float64)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "calibration_intercept": calibration_intercept(y_true, y_score)
        if both_classes
        else float("nan"),
        "calibration_slope": calibration_slope(y_true, y_score)
        if both_classes
        else float("nan"),
        "ece": expected_calibration_error(y_true, y_score),
        "mean_risk": float(np.mean(y_score)) if len(y_score) else float("nan"),
    }
