"""Does the model work as well for every group of patients: metrics per group with fairlearn.

Groups come from the snapshot's model inputs, so they are the patients' recorded values:
a one-hot family of the gold store (``race`` -> ``race_caucasian``, ``race_missing``, ...)
or a numeric gold column cut at ``edges`` (``age_midpoint`` -> age bands). Every row of a
window falls in exactly one group of each grouping. Groups smaller than
``min_group_rows`` (or with fewer than ``min_group_positives`` readmissions) are shown with
their n and marked ``small``, never dropped.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.metrics import brier_score_loss, roc_auc_score

from .operating_points import CAPACITIES

logger = logging.getLogger(__name__)


class GroupColumn(BaseModel):
    """One grouping: ``column`` is a one-hot family prefix or a numeric gold column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    #: Cut points of a numeric column (``[40, 60, 80]`` -> <40, 40-59, 60-79, 80+).
    edges: list[float] | None = None


class BootstrapSettings(BaseModel):
    """``trust.bootstrap``: patient-resampled percentile intervals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicates: int = Field(500, ge=50, le=10000)
    seed: int = 42
    level: float = Field(0.95, gt=0.5, lt=1.0)


class DecisionCurveSettings(BaseModel):
    """``trust.decision_curve``: the threshold probabilities t of the decision curve."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: float = Field(0.02, gt=0.0, lt=1.0)
    stop: float = Field(0.40, gt=0.0, lt=1.0)
    step: float = Field(0.01, gt=0.0, lt=0.5)

    @model_validator(mode="after")
    def _ordered(self) -> DecisionCurveSettings:
        if self.start >= self.stop:
            raise ValueError(
                f"trust.decision_curve.start {self.start} must be below stop {self.stop}"
            )
        return self

    def thresholds(self) -> np.ndarray:
        """The grid, both ends included, rounded to the step's decimals."""
        count = int(round((self.stop - self.start) / self.step)) + 1
        return np.round(np.linspace(self.start, self.stop, count), 6)


class TrustSettings(BaseModel):
    """``trust`` in parameters_training.yml: reasons, groups and intervals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_reasons: int = Field(3, ge=1, le=10)
    groups: dict[str, GroupColumn] = Field(
        default_factory=lambda: {
            "race": GroupColumn(column="race"),
            "gender": GroupColumn(column="gender"),
            "age_band": GroupColumn(column="age_midpoint", edges=[40, 60, 80]),
        }
    )
    min_group_rows: int = Field(100, ge=1)
    min_group_positives: int = Field(10, ge=0)
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    decision_curve: DecisionCurveSettings = Field(default_factory=DecisionCurveSettings)
    #: Capacities of the operating-point table, as shares of a window's encounters.
    capacities: list[Annotated[float, Field(gt=0.0, lt=1.0)]] = Field(
        default_factory=lambda: list(CAPACITIES), min_length=1
    )


def group_labels(values: pd.DataFrame, spec: GroupColumn) -> pd.Series | None:
    """The group of each row under ``spec``, or None if the window lacks its columns."""
    if spec.column in values.columns:
        column = values[spec.column]
        if spec.edges is None:
            return column.map(lambda v: f"{v:g}").astype(str)
        edges = sorted(spec.edges)
        names = [
            f"<{edges[0]:g}",
            *(f"{low:g}-{high:g}" for low, high in zip(edges, edges[1:], strict=False)),
            f"{edges[-1]:g}+",
        ]
        bins = np.searchsorted(edges, column.to_numpy(), side="right")
        return pd.Series(np.asarray(names, dtype=object)[bins], index=values.index)
    family = [c for c in values.columns if str(c).startswith(f"{spec.column}_")]
    if not family:
        return None
    flags = values[family].to_numpy() >= 0.5
    levels = np.asarray(
        [str(c).removeprefix(f"{spec.column}_") for c in family], dtype=object
    )
    labels = np.where(flags.any(axis=1), levels[flags.argmax(axis=1)], "not recorded")
    return pd.Series(labels, index=values.index)


def _auc(y_true, y_score) -> float:
    return (
        float(roc_auc_score(y_true, y_score))
        if len(np.unique(y_true)) == 2
        else float("nan")
    )


def _group_metrics(threshold: float):
    """One metric returning every measure of a group at once.

    fairlearn 0.15 copies ``y_true`` and ``y_pred`` element by element (``np.stack``) for
    each metric of each group, ~10 ms a call on 20,000 rows; one call per group instead of
    nine keeps the tables of a window well under a second.
    """

    def measure(y_true, y_score) -> dict[str, float]:
        y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
        flagged = (y_score >= threshold).astype(int)
        has_positive, has_negative = (y_true == 1).any(), (y_true == 0).any()
        return {
            "n": int(count(y_true, y_score)),
            "readmission_rate": float(np.mean(y_true)),
            "mean_risk": float(np.mean(y_score)),
            "auc_roc": _auc(y_true, y_score),
            "brier": float(brier_score_loss(y_true, y_score)),
            "observed_minus_expected": float(np.mean(y_true) - np.mean(y_score)),
            "tpr": float(true_positive_rate(y_true, flagged, pos_label=1))
            if has_positive
            else float("nan"),
            "fpr": float(false_positive_rate(y_true, flagged, pos_label=1))
            if has_negative
            else float("nan"),
            "flag_rate": float(selection_rate(y_true, flagged, pos_label=1)),
        }

    return measure


def performance_by_group(
    y_true: np.ndarray,
    y_score: np.ndarray,
    values: pd.DataFrame,
    threshold: float,
    settings: TrustSettings,
) -> dict[str, Any]:
    """Per grouping and group: n, readmission rate, ROC-AUC, Brier, observed - expected, and
    at ``threshold`` the true- and false-positive rates and the flag rate.

    Returns ``{"rows": [...one dict per group, with "grouping", "group", "small"...],
    "unavailable": {grouping: why}}``.
    """
    rows, unavailable = [], {}
    measure = _group_metrics(threshold)
    for name, spec in settings.groups.items():
        labels = group_labels(values, spec)
        if labels is None:
            unavailable[name] = (
                f"no column {spec.column!r} or {spec.column}_* among the model inputs"
            )
            logger.warning(
                "Performance by group: %s skipped (%s)", name, unavailable[name]
            )
            continue
        frame = MetricFrame(
            metrics={"measures": measure},
            y_true=np.asarray(y_true),
            y_pred=np.asarray(y_score),
            sensitive_features=labels.rename(name),
        )
        for group, measured in frame.by_group["measures"].items():
            positives = int(round(measured["readmission_rate"] * measured["n"]))
            rows.append(
                {
                    "grouping": name,
                    "group": str(group),
                    **{key: _plain(value) for key, value in measured.items()},
                    "n": int(measured["n"]),
                    "positives": positives,
                    "small": bool(
                        measured["n"] < settings.min_group_rows
                        or positives < settings.min_group_positives
                    ),
                }
            )
    return {"rows": rows, "unavailable": unavailable}


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and np.isnan(value) else value
