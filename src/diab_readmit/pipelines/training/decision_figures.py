"""Figures of ``assess_decisions``: the decision curve and the smoothed calibration curve.

Drawn from the assessment itself (the numbers the metadata records), test and OOT side by
side in the colours of ``figures.WINDOW_STYLE``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from diab_readmit.number_format import format_ranges

from .figures import WINDOW_STYLE


def decision_curves(assessment: dict[str, Any], title: str) -> Figure:
    """Net benefit of the model (with its interval), treat all and treat none, per window."""
    curves = assessment["decision_curve"]
    figure = Figure(figsize=(6.5, 5), dpi=100)
    axis = figure.subplots()
    top = 0.0
    for window, curve in curves.items():
        style = WINDOW_STYLE[window]
        t = np.asarray(curve["thresholds"])
        low, high = np.asarray(curve["model_interval"], dtype=float).T
        axis.fill_between(t, low, high, color=style["color"], alpha=0.15, linewidth=0)
        axis.plot(
            t,
            curve["model"],
            color=style["color"],
            label=f"{style['label']}: model (beats both for t in "
            f"{format_ranges(curve['beats_defaults'])})",
        )
        axis.plot(
            t,
            curve["treat_all"],
            color=style["color"],
            linestyle="--",
            linewidth=1,
            label=f"{style['label']}: treat all",
        )
        top = max(top, float(np.nanmax(high)), float(curve["treat_all"][0]))
    axis.axhline(0, color="grey", linewidth=1, label="treat none")
    axis.set(
        xlabel="threshold probability t (risk from which a patient is flagged)",
        ylabel="net benefit (readmissions reached per encounter, net)",
        title=f"{title}: decision curve",
        ylim=(-0.1 * top if top > 0 else -0.01, 1.1 * top if top > 0 else 0.01),
    )
    axis.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    axis.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    return figure


def smoothed_calibration(assessment: dict[str, Any], title: str) -> Figure:
    """Observed against predicted risk (spline-smoothed, with its interval), per window."""
    figure = Figure(figsize=(5.5, 5), dpi=100)
    axis = figure.subplots()
    top = 0.0
    for window, measured in assessment["smoothed_calibration"].items():
        curve, style = measured.get("curve"), WINDOW_STYLE[window]
        if not curve:
            continue
        label = (
            f"{style['label']}: O/E {measured['observed_to_expected']['estimate']:.2f}, "
            f"slope {measured['calibration_slope']['estimate']:.2f}, scaled Brier "
            f"{measured['scaled_brier']['estimate']:.3f}"
        )
        axis.fill_between(
            curve["risk"],
            curve["low"],
            curve["high"],
            color=style["color"],
            alpha=0.15,
            linewidth=0,
        )
        axis.plot(curve["risk"], curve["observed"], color=style["color"], label=label)
        top = max(top, curve["risk"][-1], float(np.nanmax(curve["high"])))
    limit = min(1.0, 1.1 * top) if top > 0 else 1.0
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    axis.set(
        xlabel="predicted risk (calibrated probability)",
        ylabel="observed readmission rate (smoothed)",
        title=f"{title}: smoothed calibration",
        xlim=(0, limit),
        ylim=(0, limit),
    )
    axis.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    return figure
