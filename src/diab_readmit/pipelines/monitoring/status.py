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


def _plain(value: Any) -> Any:
    """A table cell as JSON: None for a missing value, Python numbers and booleans."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def month_estimate(row: Any, floor: float | None) -> dict[str, Any]:
    """A month's row of ``estimated_performance`` as the status JSON carries it."""
    return {
        "auc_roc": _plain(row.estimated_auc_roc),
        "auc_roc_interval": [
            _plain(row.estimated_auc_roc_low),
            _plain(row.estimated_auc_roc_high),
        ],
        "rate": _plain(row.estimated_rate),
        "rate_interval": [
            _plain(row.estimated_rate_low),
            _plain(row.estimated_rate_high),
        ],
        "sensitivity": _plain(row.estimated_sensitivity),
        "ppv": _plain(row.estimated_ppv),
        "auc_floor": floor,
        "below_floor": bool(
            floor is not None
            and _plain(row.estimated_auc_roc) is not None
            and row.estimated_auc_roc < floor
        ),
        "realised_auc_roc": _plain(row.realised_auc_roc),
        "realised_rate": _plain(row.realised_rate),
        "realised_within_interval": _plain(row.realised_within_interval),
    }


def _estimate_findings(month: str, estimate: dict[str, Any]) -> list[tuple[str, str]]:
    if not estimate["below_floor"]:
        return []
    low, high = estimate["auc_roc_interval"]
    return [
        (
            "alert",
            f"{month}: ROC-AUC estimated from the month's risks before its outcomes, "
            f"{estimate['auc_roc']:.3f} ({low:.3f} to {high:.3f}), is below the model's "
            f"floor {estimate['auc_floor']:.3f} (alert)",
        )
    ]


def assess(
    drift: pd.DataFrame,
    performance: pd.DataFrame,
    estimated: pd.DataFrame,
    model: dict[str, Any],
    notes: list[tuple[str, str]],
    params: MonitoringParams,
) -> dict[str, Any]:
    """The monitoring status: the worst level over every month, and why.

    Args:
        drift: ``drift_table`` of the inputs and of ``risk``, every month.
        performance: ``monthly_performance``.
        estimated: ``estimation.estimated_performance``.
        model: the monitored model's summary (``test_auc_roc`` and ``auc_floor`` among its
            keys).
        notes: (level, reason) pairs that concern the whole run, e.g. nothing scored.
        params: the thresholds.

    Returns:
        ``{"status", "reasons", "alert_features", "warn_features", "months": [...]}``.
    """
    findings = list(notes)
    months, alert_features, warn_features = [], [], []
    by_month = performance.set_index("month")
    estimates = {
        row.month: month_estimate(row, model.get("auc_floor"))
        for row in estimated.itertuples()
    }
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
        estimate = estimates.get(month)
        month_findings = (
            drift_findings
            + performance_findings
            + (_estimate_findings(month, estimate) if estimate else [])
        )
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
                "estimated": estimate,
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
