"""The comparison charts: test vs OOT per algorithm, and ROC-AUC over registered versions."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from .parameter_models import METRIC_LABELS, ReportSettings

#: Discrimination metrics read on a 0-1 axis; these read badly there.
_NOT_CHARTED = {"brier", "ece", "calibration_intercept", "calibration_slope"}
_COLOURS = ["#3b6ea8", "#e08a2c", "#4c9a52", "#a8433b", "#7a5aa8"]


def draw_test_vs_oot(comparison: pd.DataFrame, settings: ReportSettings) -> Figure:
    """Bars of the first three charted metrics, test beside OOT, per registered algorithm."""
    registered = comparison[comparison["registered"].astype(bool)]
    chart_metrics = [m for m in settings.metrics_to_show if m not in _NOT_CHARTED][
        :3
    ] or ["auc_roc"]
    figure = Figure(figsize=(4.2 * len(chart_metrics), 3.8), layout="constrained")
    axes = figure.subplots(1, len(chart_metrics), squeeze=False)[0]
    for axis, metric in zip(axes, chart_metrics, strict=True):
        if registered.empty:
            _say_nothing_registered(axis)
            continue
        positions = range(len(registered))
        width = 0.38
        for offset, window, colour in (
            (-width / 2, "test", "#3b6ea8"),
            (width / 2, "oot", "#e08a2c"),
        ):
            values = registered[f"{window}_{metric}"].astype(float)
            bars = axis.bar(
                [p + offset for p in positions],
                values,
                width,
                label=window.upper(),
                color=colour,
            )
            axis.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
        labels = [
            f"{name}\n(best)" if best else name
            for name, best in zip(
                registered["algorithm"], registered["best"], strict=True
            )
        ]
        axis.set_xticks(list(positions), labels, fontsize=8)
        axis.set_title(f"{METRIC_LABELS[metric]}: test vs OOT")
        axis.set_ylim(0, 1.08)
        axis.legend(fontsize=8, loc="lower right")
    figure.suptitle(
        f"Latest versions (best chosen on test {METRIC_LABELS[settings.selection_metric]})"
    )
    return figure


def draw_auc_over_versions(version_history: pd.DataFrame) -> Figure:
    """Test and OOT ROC-AUC of every registered version, against registration time.

    One series per algorithm *and raw file* (``trained_on``): versions trained on the demo
    data and on a hospital's file are different models of different data, never one line.
    Colour is the algorithm; with several raw files, each file has its own line style.
    """
    figure = Figure(figsize=(8, 4.2), layout="constrained")
    axis = figure.subplots()
    if version_history.empty:
        _say_nothing_registered(axis)
        return figure
    algorithms = list(dict.fromkeys(version_history["algorithm"]))
    sources = list(dict.fromkeys(version_history["trained_on"]))
    for (name, source), versions in version_history.groupby(
        ["algorithm", "trained_on"], sort=False, dropna=False
    ):
        colour = _COLOURS[algorithms.index(name) % len(_COLOURS)]
        style = _SOURCE_STYLES[sources.index(source) % len(_SOURCE_STYLES)]
        label = f"{name}, {_short_source(source)}" if len(sources) > 1 else name
        # Registration time, not version number, on x: algorithms are retrained on their own
        # schedules, and a shared time axis shows which models saw which snapshot.
        when = pd.to_datetime(
            versions["created_at"], utc=True, errors="coerce"
        ).dt.tz_localize(None)
        axis.plot(
            when,
            versions["oot_auc_roc"],
            marker="o",
            linestyle=style,
            color=colour,
            label=f"{label} OOT",
        )
        axis.plot(
            when,
            versions["test_auc_roc"],
            marker="s",
            linestyle=style,
            color=colour,
            alpha=0.5,
            label=f"{label} test",
        )
    axis.set_xlabel("registered at (UTC)")
    axis.set_ylabel("ROC-AUC")
    axis.set_title("ROC-AUC of every registered version (from versions.json)")
    axis.grid(alpha=0.3)
    axis.tick_params(axis="x", labelrotation=20)
    figure.legend(loc="outside lower center", ncol=2, fontsize=8)
    return figure


#: Line styles telling the raw files apart (in order of first registration).
_SOURCE_STYLES = ("-", "--", ":", "-.")


def _short_source(source: Any) -> str:
    """``demo data (seed 42, …)`` -> ``demo data``; ``path (sha256 0689e7ec)`` -> ``data
    0689e7ec``: the chart's legend names the file by its fingerprint, the table in full."""
    text = str(source)
    if text.startswith("demo data"):
        return "demo data"
    fingerprint = re.search(r"sha256 (\w+)", text)
    return f"data {fingerprint.group(1)}" if fingerprint else text[:24]


def _say_nothing_registered(axis: Any) -> None:
    axis.text(
        0.5,
        0.5,
        "no model registered yet",
        ha="center",
        va="center",
        transform=axis.transAxes,
    )
    axis.set_axis_off()
