"""Evaluation figures of one trained model: test and OOT side by side.

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot``: no global figure
registry to leak into or to close, and safe to build in any thread.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from .calibration import calibration_metrics

WINDOW_STYLE = {
    "test": {"color": "#1f77b4", "label": "test"},
    "oot": {"color": "#d62728", "label": "OOT"},
}


def roc_curves(scores: dict[str, dict[str, np.ndarray]], title: str) -> Figure:
    figure = Figure(figsize=(5.5, 5), dpi=100)
    axis = figure.subplots()
    for window, window_scores in scores.items():
        y_true, y_score = window_scores["y_true"], window_scores["y_score"]
        fpr, tpr, _ = roc_curve(y_true, y_score)
        auc = roc_auc_score(y_true, y_score)
        style = WINDOW_STYLE[window]
        axis.plot(
            fpr, tpr, color=style["color"], label=f"{style['label']} (AUC {auc:.3f})"
        )
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axis.set(
        xlabel="false positive rate", ylabel="true positive rate", title=f"{title}: ROC"
    )
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def precision_recall_curves(
    scores: dict[str, dict[str, np.ndarray]], title: str
) -> Figure:
    figure = Figure(figsize=(5.5, 5), dpi=100)
    axis = figure.subplots()
    for window, window_scores in scores.items():
        y_true, y_score = window_scores["y_true"], window_scores["y_score"]
        precision, recall, _ = precision_recall_curve(y_true, y_score)
        style = WINDOW_STYLE[window]
        axis.plot(recall, precision, color=style["color"], label=style["label"])
        axis.axhline(
            np.mean(y_true),
            color=style["color"],
            linestyle=":",
            linewidth=1,
            label=f"{style['label']} positive rate {np.mean(y_true):.3f}",
        )
    axis.set(
        xlabel="recall",
        ylabel="precision",
        title=f"{title}: precision-recall",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axis.legend(loc="upper right")
    figure.tight_layout()
    return figure


def calibration(
    scores: dict[str, dict[str, np.ndarray]], title: str, n_bins: int = 10
) -> Figure:
    """Observed rate against mean risk per decile of risk, zoomed to where the risks are.

    The legend carries each window's calibration intercept, slope and ECE; the histogram
    below shows how the risks spread.
    """
    figure = Figure(figsize=(5.5, 6), dpi=100)
    axis, spread = figure.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top = 0.0
    for window, window_scores in scores.items():
        y_true, y_score = window_scores["y_true"], window_scores["y_score"]
        observed, predicted = calibration_curve(
            y_true, y_score, n_bins=n_bins, strategy="quantile"
        )
        measured = calibration_metrics(y_true, y_score)
        style = WINDOW_STYLE[window]
        label = (
            f"{style['label']}: intercept {measured['calibration_intercept']:+.2f}, "
            f"slope {measured['calibration_slope']:.2f}, ECE {measured['ece']:.3f}"
        )
        axis.plot(predicted, observed, marker="o", color=style["color"], label=label)
        spread.hist(
            y_score,
            bins=40,
            range=(0, 1),
            histtype="step",
            color=style["color"],
            density=True,
        )
        top = max(top, float(np.max(observed)), float(np.quantile(y_score, 0.995)))
    limit = min(1.0, 1.15 * top) if top > 0 else 1.0
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    axis.set(
        ylabel="observed readmission rate",
        title=f"{title}: calibration (deciles of risk)",
        xlim=(0, limit),
        ylim=(0, limit),
    )
    axis.legend(loc="upper left", fontsize="small")
    spread.set(xlabel="predicted risk (calibrated probability)", ylabel="density")
    figure.tight_layout()
    return figure


#: Font sizes (points) of the confusion matrices: the figure is shown about 560 px wide in
#: the report, so its counts must be drawn large to read as ~14 px there.
CONFUSION_FONT = {"count": 17, "label": 13, "title": 14}


def confusion_matrices(
    scores: dict[str, dict[str, np.ndarray]], threshold: float, title: str
) -> Figure:
    figure = Figure(figsize=(3.4 * len(scores), 3.9), dpi=100, layout="constrained")
    axes = figure.subplots(1, len(scores), squeeze=False)[0]
    for axis, (window, window_scores) in zip(axes, scores.items(), strict=True):
        y_pred = (window_scores["y_score"] >= threshold).astype(int)
        matrix = confusion_matrix(window_scores["y_true"], y_pred, labels=[0, 1])
        axis.imshow(matrix, cmap="Blues")
        for (row, column), count in np.ndenumerate(matrix):
            share = count / max(matrix.sum(), 1)
            colour = "white" if count > matrix.max() / 2 else "black"
            axis.text(
                column,
                row,
                f"{count:,}\n{share:.1%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=CONFUSION_FONT["count"],
            )
        axis.set_xticks([0, 1], ["no", "yes"], fontsize=CONFUSION_FONT["label"])
        axis.set_yticks([0, 1], ["no", "yes"], fontsize=CONFUSION_FONT["label"])
        axis.set_xlabel("predicted readmission", fontsize=CONFUSION_FONT["label"])
        axis.set_ylabel("actual readmission", fontsize=CONFUSION_FONT["label"])
        axis.set_title(WINDOW_STYLE[window]["label"], fontsize=CONFUSION_FONT["label"])
    figure.suptitle(
        f"{title}: confusion matrix\nat threshold {threshold:.3f}",
        fontsize=CONFUSION_FONT["title"],
    )
    return figure


def importances(values: pd.Series, title: str, top: int = 20) -> Figure:
    """Mean |contribution| per feature, the largest on top. Long feature labels are
    shortened and the titles wrapped so that nothing runs past the figure's edge."""
    shown = values.head(top).iloc[::-1]
    figure = Figure(figsize=(8, 0.3 * len(shown) + 2.2), dpi=100, layout="constrained")
    axis = figure.subplots()
    colours = ["#d62728" if value < 0 else "#1f77b4" for value in shown]
    labels = [
        textwrap.shorten(str(name), width=48, placeholder="…") for name in shown.index
    ]
    axis.barh(labels, shown.to_numpy(), color=colours)
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set_xlabel(textwrap.fill(str(values.name), width=60))
    # A figure title, left-aligned and wrapped: an axes title is centred over the bars and
    # ran past the right edge when the feature labels took the left half.
    figure.suptitle(
        textwrap.fill(f"{title}: top {len(shown)} features by {values.name}", width=70),
        x=0.02,
        ha="left",
    )
    return figure
