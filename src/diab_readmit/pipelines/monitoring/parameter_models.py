"""Typed parameters of the ``monitoring`` pipeline (validated by Kedro before any node runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DriftThresholds(BaseModel):
    """``monitoring.drift``: how a month's inputs and risks are compared with the reference.

    PSI (population stability index) per model input and on ``risk``, over bins taken from
    the reference: ``bins`` quantile bins for a numeric input with more than
    ``max_categories`` distinct values, one bin per value (or category) otherwise, values
    rarer than ``min_category_share`` pooled into ``other``. Numeric inputs also get the two-sample KS statistic, shown
    beside the PSI; the status is decided on PSI alone (with thousands of rows, KS
    p-values flag differences too small to matter).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    psi_warn: float = Field(default=0.1, gt=0)
    psi_alert: float = Field(default=0.25, gt=0)
    bins: int = Field(default=10, ge=2, le=100)
    max_categories: int = Field(default=20, ge=2, le=200)
    #: Values (or categories) rarer than this in the reference share the bin ``other``:
    #: a bin of a few rows makes PSI noise, not signal.
    min_category_share: float = Field(default=0.02, ge=0, lt=0.5)
    #: A month with fewer scored encounters is shown but not judged: PSI over a few
    #: dozen rows is mostly noise.
    min_rows: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> DriftThresholds:
        if self.psi_alert < self.psi_warn:
            raise ValueError(
                f"monitoring.drift.psi_alert={self.psi_alert} is below psi_warn="
                f"{self.psi_warn}; an alert must need at least as much drift as a warning"
            )
        return self


class PerformanceThresholds(BaseModel):
    """``monitoring.performance``: judged once a month's outcomes are in the label store.

    ROC-AUC is compared with the model's registered test ROC-AUC; calibration by the
    intercept (0 = risks right on average; > 0 too low) and the slope (1 = as spread as the
    outcomes) of the month's risks, as the training pipeline measures them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Fewer labelled encounters (or readmissions) in a month: metrics shown, not judged.
    min_labelled: int = Field(default=200, ge=1)
    min_readmissions: int = Field(default=10, ge=1)
    auc_drop_warn: float = Field(default=0.05, ge=0)
    auc_drop_alert: float = Field(default=0.10, ge=0)
    calibration_intercept_warn: float = Field(default=0.25, ge=0)
    calibration_intercept_alert: float = Field(default=0.5, ge=0)
    calibration_slope_range: tuple[float, float] = (0.7, 1.3)


class EstimationSettings(BaseModel):
    """``monitoring.estimation``: performance estimated from the calibrated risks alone.

    Each month's expected ROC-AUC and rate come with the interval of ``replicates``
    outcome draws from its risks (``level``, seeded). A month whose estimated ROC-AUC is
    below ``auc_floor`` (null: the model's own gate floor, ``promotion.floors.min_auc_roc``
    as recorded in its metadata) is an alert before any outcome arrives. Realised values
    are shown once ``min_labelled_share`` of a month's encounters have outcomes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    replicates: int = Field(default=500, ge=50, le=10000)
    seed: int = 42
    level: float = Field(default=0.95, gt=0.5, lt=1.0)
    #: Replicates drawn at a time (bounds memory to block x 2 x the month's rows).
    block: int = Field(default=64, ge=1, le=1000)
    auc_floor: float | None = Field(default=None, ge=0.0, le=1.0)
    min_labelled_share: float = Field(default=0.9, gt=0.0, le=1.0)


class MonitoringParams(BaseModel):
    """``monitoring``: what the pipeline compares the scored months with, and when it warns.

    The reference is the monitored model's own train window (from its registry metadata),
    as gold feature rows; ``risk_reference_window`` is the window whose risks ``risk`` is
    compared with: ``test`` (default) because a model's risks on the rows it was fitted on
    are more extreme than on new patients (a forest's especially), which would read as
    drift on every month.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    drift: DriftThresholds = DriftThresholds()
    performance: PerformanceThresholds = PerformanceThresholds()
    estimation: EstimationSettings = EstimationSettings()
    risk_reference_window: Literal["train", "test"] = "test"
