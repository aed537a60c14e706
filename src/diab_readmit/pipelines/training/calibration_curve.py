"""Calibration a clinician can read: a smoothed calibration curve with its interval, and the
summary numbers the calibration literature asks for, each with a patient-resampled interval.

The curve is a logistic regression of the outcome on a restricted cubic spline of logit(risk)
(four knots at the 5th, 35th, 65th and 95th percentiles, Harrell's defaults), the smoother
Van Calster et al. (J Clin Epidemiol 2016) and Austin & Steyerberg (Stat Med 2014) recommend
next to loess. Per window:

- observed / expected: readmissions over the sum of the risks (1 ideal);
- calibration-in-the-large: ``a`` in ``logit P(y) = a + logit(p)`` (0 ideal, > 0 risks too low);
- calibration slope: ``b`` in ``logit P(y) = a + b logit(p)`` (1 ideal, < 1 risks too extreme);
- scaled Brier: 1 - Brier / Brier of always predicting the window's rate (0 = no better than
  the rate, 1 = perfect).

Every fit of every replicate is one Newton iteration over all replicates of a block at once
(``weighted_logistic``), on the patient weights of ``bootstrap.replicate_weights``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bootstrap import Resampling, percentile_interval, replicate_weights

#: Knot percentiles of the restricted cubic spline of logit(risk).
KNOT_PERCENTILES = (5, 35, 65, 95)
#: Points of the curve, evenly spaced in logit(risk) between the 1st and 99th percentile.
CURVE_POINTS = 40
#: Bins of logit(risk) the replicates' fits pool rows into (the estimate uses every row).
FIT_BINS = 1000
_EPSILON = 1e-6
_NEWTON_STEPS = 25


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPSILON, 1 - _EPSILON)
    return np.log(p / (1 - p))


def weighted_logistic(
    design: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """Maximum-likelihood coefficients of ``logit P(y) = offset + design @ beta`` for each
    row of ``weights`` (replicates x rows): Newton's method on all replicates at once.

    Returns (replicates x columns of design).
    """
    weights = np.atleast_2d(weights)
    offset = np.zeros(len(design)) if offset is None else offset
    beta = np.zeros((len(weights), design.shape[1]))
    columns = design.shape[1]
    outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), -1)
    ridge = 1e-9 * np.eye(columns)
    for _ in range(_NEWTON_STEPS):
        p = 1 / (1 + np.exp(-(offset + beta @ design.T)))
        gradient = (weights * (y - p)) @ design
        hessian = ((weights * p * (1 - p)) @ outer).reshape(
            -1, columns, columns
        ) + ridge
        step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
        beta += step
        if np.max(np.abs(step)) < 1e-9:
            break
    return beta


def spline_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Intercept, ``x`` and the restricted cubic spline terms of ``x`` (linear beyond the
    outer knots), each nonlinear term scaled by (last knot - first knot)^2."""
    first, before_last, last = knots[0], knots[-2], knots[-1]
    columns = [np.ones_like(x), x]
    for knot in knots[:-2]:
        term = (
            np.clip(x - knot, 0, None) ** 3
            - np.clip(x - before_last, 0, None) ** 3
            * (last - knot)
            / (last - before_last)
            + np.clip(x - last, 0, None) ** 3
            * (before_last - knot)
            / (last - before_last)
        )
        columns.append(term / (last - first) ** 2)
    return np.column_stack(columns)


def _fits(
    lp: np.ndarray, y: np.ndarray, weights: np.ndarray, grid: np.ndarray, knots
) -> dict[str, np.ndarray]:
    """The curve on ``grid``, the slope and calibration-in-the-large per weight row.

    ``y`` is the outcome per row, or per replicate and row (the readmitted share of a bin).
    """
    curve = weighted_logistic(spline_basis(lp, knots), y, weights)
    slope = weighted_logistic(np.column_stack([np.ones_like(lp), lp]), y, weights)
    in_the_large = weighted_logistic(np.ones((len(lp), 1)), y, weights, offset=lp)
    return {
        "calibration_in_the_large": in_the_large[:, 0],
        "calibration_slope": slope[:, 1],
        "curve": 1 / (1 + np.exp(-(curve @ spline_basis(grid, knots).T))),
    }


def _binned(lp: np.ndarray, y: np.ndarray, weights: np.ndarray):
    """The rows pooled into ``FIT_BINS`` equal-count bins of logit(risk): each bin's mean
    logit, and per replicate its readmitted share and total weight. A replicate's fits then
    cost bins, not rows; within a bin logit(risk) varies by a few thousandths."""
    order = np.argsort(lp, kind="stable")
    starts = np.unique(np.linspace(0, len(lp), FIT_BINS, endpoint=False).astype(int))
    centres = np.add.reduceat(lp[order], starts) / np.diff(np.r_[starts, len(lp)])
    w = weights[:, order]
    readmitted = np.add.reduceat(w * y[order], starts, axis=1)
    totals = np.add.reduceat(w, starts, axis=1)
    share = np.divide(readmitted, totals, out=np.zeros_like(totals), where=totals > 0)
    return centres, share, totals


def _window_statistics(
    y: np.ndarray, score: np.ndarray, weights: np.ndarray, grid: np.ndarray, knots
) -> dict[str, np.ndarray]:
    """Every statistic of one window for each weight row (replicates x ...)."""
    lp = _logit(score)
    total = weights.sum(axis=1)
    readmitted = weights @ y
    rate = readmitted / total
    brier = weights @ (y - score) ** 2 / total
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled_brier = 1 - brier / (rate * (1 - rate))
    fits = (
        _fits(lp, y, weights, grid, knots)
        if len(weights) == 1
        else _fits(*_binned(lp, y, weights), grid, knots)
    )
    return {
        "observed_to_expected": readmitted / (weights @ score),
        "scaled_brier": scaled_brier,
        **fits,
    }


#: The summary statistics, in the order tables show them.
STATISTICS = (
    "observed_to_expected",
    "calibration_in_the_large",
    "calibration_slope",
    "scaled_brier",
)


def smoothed_calibration(
    y: np.ndarray, score: np.ndarray, patients: np.ndarray, resampling: Resampling
) -> dict[str, Any]:
    """The smoothed calibration curve of one window and its summary, with intervals.

    Returns ``{"curve": {"risk", "observed", "low", "high"}, statistic: {"estimate",
    "interval"} for each of STATISTICS, "knots" (as risks)}``; the curve spans the 1st to
    99th percentile of the risks, where there are patients to say something.
    """
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    lp = _logit(score)
    knots = np.percentile(lp, KNOT_PERCENTILES)
    if len(np.unique(knots)) < len(knots) or len(np.unique(y)) < 2:
        return {"curve": None, **dict.fromkeys(STATISTICS)}
    grid = np.linspace(*np.percentile(lp, [1, 99]), CURVE_POINTS)
    point = _window_statistics(y, score, np.ones((1, len(y))), grid, knots)
    replicated: dict[str, list[np.ndarray]] = {key: [] for key in point}
    for weights in replicate_weights(patients, y, resampling):
        for key, values in _window_statistics(y, score, weights, grid, knots).items():
            replicated[key].append(values)
    stacked = {key: np.concatenate(values) for key, values in replicated.items()}
    bands = [
        percentile_interval(column, resampling.level) for column in stacked["curve"].T
    ]
    return {
        "curve": {
            "risk": [float(v) for v in 1 / (1 + np.exp(-grid))],
            "observed": [float(v) for v in point["curve"][0]],
            "low": [low for low, _ in bands],
            "high": [high for _, high in bands],
        },
        **{
            key: {
                "estimate": float(point[key][0]),
                "interval": percentile_interval(stacked[key], resampling.level),
            }
            for key in STATISTICS
        },
        "knots": [float(v) for v in 1 / (1 + np.exp(-knots))],
    }
