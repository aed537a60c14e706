"""Is acting on the model better than calling everyone or no one: decision-curve analysis.

Net benefit at a threshold probability t (Vickers & Elkin, Med Decis Making 2006) counts
the readmissions a team reaches by flagging every encounter with risk >= t, minus the
calls to patients who would not have been readmitted, weighted by the odds t / (1 - t) a
team accepts by choosing t::

    net benefit(t) = TP / n - FP / n * t / (1 - t)

"Treat all" flags everyone (prevalence - (1 - prevalence) * t / (1 - t)), "treat none"
nobody (0). Written here rather than taken from ``dcurves``: the formula is these lines, and
the intervals must resample patients, as every other interval of the project does
(``bootstrap.replicate_weights``); dcurves resamples rows and brings statsmodels and
lifelines with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bootstrap import Resampling, percentile_interval, replicate_weights


def net_benefit(
    y: np.ndarray, score: np.ndarray, weights: np.ndarray, thresholds: np.ndarray
) -> dict[str, np.ndarray]:
    """Net benefit of the model and of treating everyone, per weight row and threshold.

    ``weights`` is (replicates x rows), a row of ones for the plain estimate. Returns
    ``{"model": (replicates x thresholds), "treat_all": (replicates x thresholds)}``.
    """
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    weights = np.atleast_2d(weights)
    order = np.argsort(-score, kind="stable")
    # Rows flagged at t: those with score >= t, a prefix of the descending order.
    flagged = np.searchsorted(-score[order], -thresholds, side="right")
    w = weights[:, order]
    true_pos = np.concatenate(
        [np.zeros((len(w), 1)), np.cumsum(w * y[order], axis=1)], axis=1
    )
    false_pos = np.concatenate(
        [np.zeros((len(w), 1)), np.cumsum(w * (1 - y[order]), axis=1)], axis=1
    )
    total = weights.sum(axis=1, keepdims=True)
    odds = thresholds / (1 - thresholds)
    positives, negatives = true_pos[:, -1:], false_pos[:, -1:]
    return {
        "model": (true_pos[:, flagged] - false_pos[:, flagged] * odds) / total,
        "treat_all": (positives - negatives * odds) / total,
    }


def benefit_ranges(thresholds: np.ndarray, better: np.ndarray) -> list[list[float]]:
    """The runs of consecutive ``thresholds`` where ``better`` holds, as [first, last]."""
    ranges, start = [], None
    for position, holds in enumerate(better):
        if holds and start is None:
            start = position
        if start is not None and (not holds or position == len(better) - 1):
            stop = position if holds else position - 1
            ranges.append([float(thresholds[start]), float(thresholds[stop])])
            start = None
    return ranges


def decision_curve(
    y: np.ndarray,
    score: np.ndarray,
    patients: np.ndarray,
    thresholds: np.ndarray,
    resampling: Resampling,
) -> dict[str, Any]:
    """Net benefit of model, treat all and treat none over ``thresholds``, with intervals.

    The model's advantage over the better default (``max(treat all, 0)``) is measured on
    the same replicates (paired), so its interval is that of the difference itself.

    Returns ``{"thresholds", "model", "model_interval" ([low, high] per t), "treat_all",
    "advantage_interval", "beats_defaults" (ranges of t where the point estimate beats both),
    "beats_defaults_surely" (where the advantage's interval is above 0)}``.
    """
    point = net_benefit(y, score, np.ones((1, len(y))), thresholds)
    model, treat_all = point["model"][0], point["treat_all"][0]
    replicated = {"model": [], "advantage": []}
    for weights in replicate_weights(patients, y, resampling):
        measured = net_benefit(y, score, weights, thresholds)
        replicated["model"].append(measured["model"])
        replicated["advantage"].append(
            measured["model"] - np.maximum(measured["treat_all"], 0.0)
        )
    stacked = {key: np.concatenate(values) for key, values in replicated.items()}

    def intervals(values: np.ndarray) -> list[list[float]]:
        return [percentile_interval(column, resampling.level) for column in values.T]

    advantage = intervals(stacked["advantage"])
    return {
        "thresholds": [float(t) for t in thresholds],
        "model": [float(v) for v in model],
        "model_interval": intervals(stacked["model"]),
        "treat_all": [float(v) for v in treat_all],
        "advantage_interval": advantage,
        "beats_defaults": benefit_ranges(thresholds, (model > treat_all) & (model > 0)),
        "beats_defaults_surely": benefit_ranges(
            thresholds, np.asarray([low > 0 for low, _ in advantage])
        ),
    }
