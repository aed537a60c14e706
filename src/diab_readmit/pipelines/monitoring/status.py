"""The verdict a scheduler branches on: ``ok``, ``warn`` or ``alert``, with its reasons."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .parameter_models import MonitoringParams, PerformanceThresholds

LEVELS = ("ok", "warn", "alert")
#: The pseudo-feature of the drift table that holds the drift of the model's risks.
RISK = "risk"


def worst(levels: list[str]) -> str:
    """The most severe of ``levels`` (``ok`` for none)."""
    return max(levels, key=LEVELS.index, default="ok")


def _feature_list(rows: pd.DataFrame) -> str:
    return ", ".join(
        f"{row.feature} (PSI {row.psi:.2f})"
        for row in rows.sort_values("psi", ascending=False).itertuples()
    )


def _drift_findings(month: str, drift: pd.DataFrame, params: MonitoringParams):
    """(level, reason) pairs of one month's drift, and its drifted inputs by level."""
    thresholds = params.drift
    findings, features = [], {}
    inputs = drift[drift["feature"] != RISK]
    for level, limit in (
        ("alert", thresholds.psi_alert),
        ("warn", thresholds.psi_warn),
    ):
        hits = inputs[inputs["level"] == level]
        features[level] = hits.sort_values("psi", ascending=False)["feature"].tolist()
        if len(hits):
            findings.append(
                (
                    level,
                    f"{month}: {len(hits)} model input(s) drifted to PSI >= {limit:g} "
                    f"({level}): {_feature_list(hits)}",
                )
            )
    for row in drift[drift["feature"] == RISK].itertuples():
        if row.level in ("warn", "alert"):
            findings.append(
                (
                    row.level,
                    f"{month}: the distribution of risk drifted to PSI {row.psi:.2f} "
                    f"({row.level})",
                )
            )
    if (drift["level"] == "not judged").any():
        rows = int(drift["rows"].iloc[0])
        findings.append(
            (
                "ok",
                f"{month}: only {rows} scored encounters (< monitoring.drift.min_rows="
                f"{thresholds.min_rows}); drift shown, not judged",
            )
        )
    return findings, features


def _performance_findings(
    row: Any, test_auc: float | None, settings: PerformanceThresholds
) -> list[tuple[str, str]]:
    month = row.month
    if not row.judged:
        return []
    findings = []
    if test_auc is not None and not math.isnan(row.auc_roc):
        drop = test_auc - row.auc_roc
        level = (
            "alert"
            if drop >= settings.auc_drop_alert
            else "warn"
            if drop >= settings.auc_drop_warn
            else "ok"
        )
        if level != "ok":
            findings.append(
                (
                    level,
                    f"{month}: ROC-AUC {row.auc_roc:.3f} is {drop:.3f} below the model's "
                    f"test ROC-AUC {test_auc:.3f} ({level})",
                )
            )
    intercept = row.calibration_intercept
    if not math.isnan(intercept):
        size = abs(intercept)
        level = (
            "alert"
            if size >= settings.calibration_intercept_alert
            else "warn"
            if size >= settings.calibration_intercept_warn
            else "ok"
        )
        if level != "ok":
            direction = "too low" if intercept > 0 else "too high"
            findings.append(
                (
                    level,
                    f"{month}: calibration intercept {intercept:+.2f}: risks {direction} on "
                    f"average (observed {row.observed_rate:.1%}, expected "
                    f"{row.expected_rate_labelled:.1%}) ({level})",
                )
            )
    low, high = settings.calibration_slope_range
    if not math.isnan(row.calibration_slope) and not (
        low <= row.calibration_slope <= high
    ):
        findings.append(
            (
                "warn",
                f"{month}: calibration slope {row.calibration_slope:.2f} outside "
                f"{low:g}..{high:g} (warn)",
            )
        )
    return findings


def assess(
    drift: pd.DataFrame,
    performance: pd.DataFrame,
    model: dict[str, Any],
    notes: list[tuple[str, str]],
    params: MonitoringParams,
) -> dict[str, Any]:
    """The monitoring status: the worst level over every month, and why.

    Args:
        drift: ``drift_table`` of the inputs and of ``risk``, every month.
        performance: ``monthly_performance``.
        model: the monitored model's summary (``test_auc_roc`` among its keys).
        notes: (level, reason) pairs that concern the whole run, e.g. nothing scored.
        params: the thresholds.

    Returns:
        ``{"status", "reasons", "alert_features", "warn_features", "months": [...]}``.
    """
    findings = list(notes)
    months, alert_features, warn_features = [], [], []
    by_month = performance.set_index("month")
    for month, month_drift in drift.groupby("month", sort=True):
        drift_findings, features = _drift_findings(month, month_drift, params)
        performance_findings = (
            _performance_findings(
                next(by_month.loc[[month]].reset_index().itertuples()),
                model.get("test_auc_roc"),
                params.performance,
            )
            if month in by_month.index
            else []
        )
        month_findings = drift_findings + performance_findings
        findings += month_findings
        risk = month_drift[month_drift["feature"] == RISK]
        months.append(
            {
                "month": month,
                "status": worst([level for level, _ in month_findings]),
                "scored": int(month_drift["rows"].iloc[0]),
                "alert_features": features["alert"],
                "warn_features": features["warn"],
                "risk_psi": float(risk["psi"].iloc[0]) if len(risk) else None,
                "outcomes_judged": bool(by_month.loc[month, "judged"])
                if month in by_month.index
                else False,
            }
        )
        alert_features += [f for f in features["alert"] if f not in alert_features]
        warn_features += [f for f in features["warn"] if f not in warn_features]
    ordered = sorted(findings, key=lambda item: -LEVELS.index(item[0]))
    return {
        "status": worst([level for level, _ in findings]),
        "reasons": [reason for _, reason in ordered],
        "alert_features": alert_features,
        "warn_features": warn_features,
        "months": months,
    }
