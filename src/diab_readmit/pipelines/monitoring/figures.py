"""The monitoring report's charts: drift by feature, risk over months, calibration over months."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .parameter_models import MonitoringParams
from .status import RISK

LEVEL_COLOURS = {
    "ok": "#4c9a52",
    "warn": "#e0a02c",
    "alert": "#c0392b",
    "not judged": "#9e9e9e",
}
#: Inputs shown in the drift charts: the most drifted ones.
TOP_FEATURES = 15


def _say(axis, text: str) -> None:
    axis.text(0.5, 0.5, text, ha="center", va="center", transform=axis.transAxes)
    axis.set_axis_off()


def _png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _threshold_lines(axis, monitoring: MonitoringParams, vertical: bool) -> None:
    line = axis.axvline if vertical else axis.axhline
    for level in ("warn", "alert"):
        value = getattr(monitoring.drift, f"psi_{level}")
        line(value, color=LEVEL_COLOURS[level], linestyle="--", linewidth=1)
        line_label = f"{level} (PSI {value:g})"
        axis.plot([], [], color=LEVEL_COLOURS[level], linestyle="--", label=line_label)


def drift_by_feature(drift: pd.DataFrame, monitoring: MonitoringParams) -> Figure:
    """The latest month's most drifted inputs (and risk), as bars coloured by level."""
    figure = Figure(figsize=(9, 5.2), layout="constrained")
    axis = figure.subplots()
    if drift.empty:
        _say(axis, "no scored month to compare yet")
        return figure
    month = drift["month"].max()
    latest = drift[drift["month"] == month].nlargest(TOP_FEATURES, "psi")[::-1]
    axis.barh(
        latest["feature"],
        latest["psi"],
        color=[LEVEL_COLOURS[level] for level in latest["level"]],
    )
    for position, value in enumerate(latest["psi"]):
        axis.text(value, position, f" {value:.2f}", va="center", fontsize=8)
    _threshold_lines(axis, monitoring, vertical=True)
    axis.set_xlabel("PSI against the model's reference (higher = more drift)")
    axis.set_title(f"Drift by feature, {month}: the {len(latest)} most drifted")
    axis.tick_params(axis="y", labelsize=8)
    axis.legend(fontsize=8, loc="lower right")
    return figure


def drift_over_months(drift: pd.DataFrame, monitoring: MonitoringParams) -> Figure:
    """PSI of ``risk`` and of the most drifted inputs, month by month."""
    figure = Figure(figsize=(9, 4), layout="constrained")
    axis = figure.subplots()
    if drift.empty:
        _say(axis, "no scored month to compare yet")
        return figure
    peak = drift[drift["feature"] != RISK].groupby("feature")["psi"].max()
    shown = [RISK, *peak.nlargest(5).index]
    for feature in shown:
        series = drift[drift["feature"] == feature].sort_values("month")
        axis.plot(
            series["month"],
            series["psi"],
            marker="o",
            linewidth=2.5 if feature == RISK else 1.2,
            label=feature,
        )
    _threshold_lines(axis, monitoring, vertical=False)
    axis.set_ylabel("PSI")
    axis.set_xlabel("month of the encounters")
    axis.set_title("Drift over months: risk and the most drifted inputs")
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axis.grid(alpha=0.3)
    return figure


def risk_over_months(current: pd.DataFrame, reference_risk: np.ndarray) -> Figure:
    """The spread of risks each month beside the reference's (boxes: quartiles, 5-95%)."""
    figure = Figure(figsize=(9, 4), layout="constrained")
    axis = figure.subplots()
    if current.empty:
        _say(axis, "no scored encounters yet")
        return figure
    months = current.groupby(current["partition_date"].dt.strftime("%Y-%m"))[RISK]
    labels = ["reference", *months.groups]
    values = [reference_risk, *(group.to_numpy() for _, group in months)]
    axis.boxplot(values, tick_labels=labels, whis=(5, 95), showfliers=False)
    axis.plot(
        range(1, len(values) + 1),
        [np.mean(v) if len(v) else np.nan for v in values],
        "D",
        color="#c0392b",
        label="mean risk (expected readmission rate)",
    )
    axis.set_ylabel("risk of readmission within 30 days")
    axis.set_title("Risk distribution over months")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3, axis="y")
    return figure


def calibration_over_months(performance: pd.DataFrame) -> Figure:
    """Observed against expected readmission rate, and calibration intercept and slope."""
    figure = Figure(figsize=(11, 4), layout="constrained")
    rates, calibration = figure.subplots(1, 2)
    if performance.empty:
        _say(rates, "no scored encounters yet")
        _say(calibration, "no scored encounters yet")
        return figure
    months = performance["month"]
    rates.plot(
        months, performance["expected_rate"], "o--", label="expected (mean risk)"
    )
    rates.plot(
        months, performance["observed_rate"], "s-", label="observed (labelled only)"
    )
    rates.set_ylabel("30-day readmission rate")
    rates.set_title("Observed vs expected readmissions")
    rates.legend(fontsize=8)
    rates.grid(alpha=0.3)
    if performance["calibration_intercept"].isna().all():
        _say(
            calibration,
            "calibration appears once outcomes of the scored\n"
            "encounters reach the label store (a later data_processing run)",
        )
        return figure
    calibration.plot(
        months, performance["calibration_intercept"], "o-", label="intercept"
    )
    calibration.plot(months, performance["calibration_slope"], "s-", label="slope")
    calibration.axhline(0, color="#4c9a52", linestyle=":", linewidth=1)
    calibration.axhline(1, color="#4c9a52", linestyle=":", linewidth=1)
    calibration.set_title("Calibration over months (ideal: intercept 0, slope 1)")
    calibration.legend(fontsize=8)
    calibration.grid(alpha=0.3)
    return figure


def draw_charts(
    drift: pd.DataFrame,
    current: pd.DataFrame,
    reference_risk: np.ndarray,
    performance: pd.DataFrame,
    monitoring: MonitoringParams,
) -> tuple[dict[str, Figure], dict[str, bytes]]:
    """Every chart as a figure (saved as PNG by the catalog) and as PNG bytes (for HTML)."""
    figures = {
        "drift_by_feature.png": drift_by_feature(drift, monitoring),
        "drift_over_months.png": drift_over_months(drift, monitoring),
        "risk_over_months.png": risk_over_months(current, reference_risk),
        "calibration_over_months.png": calibration_over_months(performance),
    }
    return figures, {name: _png_bytes(figure) for name, figure in figures.items()}
