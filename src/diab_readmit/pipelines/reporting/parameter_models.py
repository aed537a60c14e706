"""Typed parameters of the ``reporting`` pipeline, and the metrics a report can show."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MetricName = Literal[
    "auc_roc",
    "pr_auc",
    "f1",
    "precision",
    "recall",
    "accuracy",
    "brier",
    "ece",
    "calibration_intercept",
    "calibration_slope",
]
#: Metrics a model can be chosen by: calibration intercept and slope are best near 0 and 1.
SelectionMetric = Literal[
    "auc_roc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "ece"
]

METRIC_LABELS: dict[str, str] = {
    "auc_roc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "f1": "F1",
    "precision": "Precision",
    "recall": "Recall",
    "accuracy": "Accuracy",
    "brier": "Brier",
    "ece": "Calibration error",
    "calibration_intercept": "Cal. intercept",
    "calibration_slope": "Cal. slope",
}
#: Metrics where a smaller value is the better model.
LOWER_IS_BETTER = frozenset({"brier", "ece"})


class ReportSettings(BaseModel):
    """``reporting.report`` in parameters_reporting.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = "30-day readmission models: comparison"
    selection_metric: SelectionMetric = "auc_roc"
    metrics: list[MetricName] = Field(
        default_factory=lambda: [
            "auc_roc",
            "pr_auc",
            "f1",
            "precision",
            "recall",
            "accuracy",
            "brier",
        ],
        min_length=1,
    )

    @property
    def metrics_to_show(self) -> list[str]:
        """The configured metrics, with the selection metric always among them."""
        metrics = list(dict.fromkeys(self.metrics))
        if self.selection_metric not in metrics:
            metrics.insert(0, self.selection_metric)
        return metrics
