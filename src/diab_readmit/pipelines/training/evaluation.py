"""Decision thresholds and evaluation metrics of one window's scores.

A window's scores are ``{"y_true": int array, "y_score": float array}``: the labels and the
predicted probability of readmission within 30 days.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from .calibration import calibration_metrics

#: The metrics every window reports, in metadata.json order.
METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "auc_roc",
    "pr_auc",
    "brier",
    "calibration_intercept",
    "calibration_slope",
    "ece",
)


def max_f1_threshold(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, float]:
    """The score cut-off with the highest F1, and that F1."""
    precision, recall, thresholds = precision_recall_curve(y_true, y_score)
    # The curve's last point (precision 1, recall 0) has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(
        2 * precision * recall,
        denominator,
        out=np.zeros_like(denominator),
        where=denominator > 0,
    )
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def max_youden_threshold(
    y_true: np.ndarray, y_score: np.ndarray
) -> tuple[float, float]:
    """The score cut-off with the highest sensitivity + specificity - 1, and that value."""
    fpr, tpr, thresholds = roc_curve(y_true, y_score)
    # roc_curve's first threshold is +inf (nothing predicted positive): never a useful cut-off.
    youden = (tpr - fpr)[1:]
    best = int(np.argmax(youden))
    return float(thresholds[1:][best]), float(youden[best])


def window_metrics(
    y_true: np.ndarray, y_score: np.ndarray, threshold: float
) -> dict[str, float]:
    """The reported metrics (``METRICS``); the first four at ``score >= threshold``."""
    y_pred = (y_score >= threshold).astype(np.int8)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        # Undefined with a single class in the window; NaN rather than a misleading number.
        "auc_roc": float(roc_auc_score(y_true, y_score))
        if both_classes
        else float("nan"),
        "pr_auc": float(average_precision_score(y_true, y_score))
        if both_classes
        else float("nan"),
        "brier": float(brier_score_loss(y_true, y_score)),
        **calibration_metrics(y_true, y_score),
    }


def window_summary(y_true: np.ndarray) -> dict[str, Any]:
    """Rows and positive rate of a window, reported next to its metrics."""
    return {
        "rows": int(len(y_true)),
        "positive_rate": float(np.mean(y_true)) if len(y_true) else 0.0,
    }
