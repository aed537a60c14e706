"""How sure the numbers are: 95% bootstrap intervals that resample patients, not rows.

A patient's encounters share their outcome risk, so resampling encounters would pretend
there is more information than there is. Each replicate draws patients with replacement,
separately among patients with and without a readmission in the window (stratified, so
every replicate has both outcomes), and weights each encounter by how often its patient
was drawn. All replicates are computed together on one sort of the scores (weighted
metrics as matrix products), so 500 replicates of a 20,000-row window take well under a
second. Intervals are percentile intervals; the seed makes them reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Replicates per block of the weight matrix (bounds memory to block x rows floats)...
BLOCK_REPLICATES = 64
#: ...and rows x replicates per block at most: above 250,000 rows a block has fewer
#: replicates (at 1.5M rows, 10), so one block's matrices stay ~130 MB each instead of
#: growing with the window. Below 250,000 rows the blocks, and so the draws, are unchanged;
#: above, each block is seeded as before by its first replicate, so the draws differ from
#: those of 64-replicate blocks (the intervals are as valid, not the same numbers).
BLOCK_WEIGHTS = 64 * 250_000
#: The metrics with intervals, as in the window metrics of metadata.json.
INTERVAL_METRICS = ("auc_roc", "pr_auc", "brier", "observed_minus_expected")


@dataclass(frozen=True)
class Resampling:
    """The patients of a window and how replicates draw them."""

    replicates: int = 500
    seed: int = 42
    level: float = 0.95
    #: Draw patients with and without a readmission separately (every replicate has both
    #: outcomes, as ROC-AUC needs). That fixes the number of readmitted patients, so a
    #: statistic of the readmission rate itself (observed / expected, net benefit) is
    #: resampled without: ``stratified=False`` draws from all patients at once.
    stratified: bool = True


def patient_weights(
    patients: np.ndarray,
    y: np.ndarray,
    replicates: int,
    seed: int,
    stratified: bool = True,
) -> np.ndarray:
    """(replicates x rows) weights: how often each row's patient is drawn per replicate.

    Patients with any readmission in the window and those without are drawn separately,
    as many as there are of each; with ``stratified=False`` all patients together.
    """
    codes, row_patient = np.unique(np.asarray(patients), return_inverse=True)
    positive_patient = np.zeros(len(codes), dtype=bool)
    np.logical_or.at(positive_patient, row_patient, np.asarray(y) == 1)
    rng = np.random.default_rng(seed)
    counts = np.zeros((replicates, len(codes)), dtype=np.float64)
    strata = (
        (positive_patient, ~positive_patient)
        if stratified
        else (np.ones(len(codes), dtype=bool),)
    )
    for stratum in strata:
        members = np.flatnonzero(stratum)
        if not len(members):
            continue
        drawn = rng.integers(0, len(members), size=(replicates, len(members)))
        offsets = (np.arange(replicates) * len(codes))[:, None]
        flat = np.bincount(
            (members[drawn] + offsets).ravel(), minlength=replicates * len(codes)
        )
        counts += flat.reshape(replicates, len(codes))
    return counts[:, row_patient]


def weighted_metrics(
    y: np.ndarray, score: np.ndarray, weights: np.ndarray, auc_only: bool = False
) -> dict[str, np.ndarray]:
    """ROC-AUC, average precision, Brier and observed - expected for each weight row.

    ``weights`` is (replicates x rows); a row of ones gives the plain metrics (ties in the
    score count half, as in scikit-learn's ``roc_auc_score``). ``auc_only``: just ROC-AUC.
    """
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    weights = np.atleast_2d(weights)
    total = weights.sum(axis=1)
    brier = weights @ (y - score) ** 2 / total
    observed_minus_expected = weights @ (y - score) / total
    # Tie groups of the score, in descending order.
    order = np.argsort(-score, kind="stable")
    sorted_score = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    w = weights[:, order]
    positives = np.add.reduceat(w * y[order], starts, axis=1)
    negatives = np.add.reduceat(w * (1 - y[order]), starts, axis=1)
    n_pos, n_neg = positives.sum(axis=1), negatives.sum(axis=1)
    # A positive beats every negative scored lower (after it in descending order).
    negatives_below = n_neg[:, None] - np.cumsum(negatives, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (positives * (negatives_below + 0.5 * negatives)).sum(axis=1) / (
            n_pos * n_neg
        )
        if auc_only:
            return {"auc_roc": auc}
        true_pos, flagged = (
            np.cumsum(positives, axis=1),
            np.cumsum(positives + negatives, axis=1),
        )
        precision = np.where(flagged > 0, true_pos / flagged, 0.0)
        average_precision = (positives * precision).sum(axis=1) / n_pos
    return {
        "auc_roc": auc,
        "pr_auc": average_precision,
        "brier": brier,
        "observed_minus_expected": observed_minus_expected,
    }


def block_replicates(rows: int) -> int:
    """Replicates per block of the weight matrix for a window of ``rows`` rows."""
    return max(1, min(BLOCK_REPLICATES, BLOCK_WEIGHTS // max(rows, 1)))


def replicate_weights(patients, y, resampling: Resampling):
    """The (replicates x rows) patient weights of ``resampling``, a block at a time.

    Every statistic with an interval draws its replicates from here, so all of a window's
    intervals come from the same patient draws.
    """
    step = block_replicates(len(y))
    for start in range(0, resampling.replicates, step):
        size = min(step, resampling.replicates - start)
        yield patient_weights(
            patients, y, size, resampling.seed + start, resampling.stratified
        )


def percentile_interval(values: np.ndarray, level: float) -> list[float]:
    """The ``level`` percentile interval of the finite ``values``."""
    values = values[np.isfinite(values)]
    if not len(values):
        return [float("nan"), float("nan")]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def metric_intervals(
    y: np.ndarray, score: np.ndarray, patients: np.ndarray, resampling: Resampling
) -> dict[str, dict[str, float | list[float]]]:
    """Point estimate and bootstrap interval of each of INTERVAL_METRICS.

    Returns ``{metric: {"estimate": float, "interval": [low, high]}}``.
    """
    point = weighted_metrics(y, score, np.ones((1, len(y))))
    replicated: dict[str, list[np.ndarray]] = {m: [] for m in INTERVAL_METRICS}
    for weights in replicate_weights(patients, y, resampling):
        for metric, values in weighted_metrics(y, score, weights).items():
            replicated[metric].append(values)
    return {
        metric: {
            "estimate": float(point[metric][0]),
            "interval": percentile_interval(
                np.concatenate(replicated[metric]), resampling.level
            ),
        }
        for metric in INTERVAL_METRICS
    }


def paired_auc_difference(
    y: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    patients: np.ndarray,
    resampling: Resampling,
) -> dict[str, float | list[float] | bool]:
    """ROC-AUC of ``score_a`` minus that of ``score_b`` on the same rows, with its interval.

    Both are scored on the same replicates (paired), so the interval is that of the
    difference itself. ``tie`` is True when the interval contains 0.
    """

    def auc(score: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return weighted_metrics(y, score, weights, auc_only=True)["auc_roc"]

    ones = np.ones((1, len(y)))
    estimate = float(auc(score_a, ones)[0] - auc(score_b, ones)[0])
    differences = [
        auc(score_a, weights) - auc(score_b, weights)
        for weights in replicate_weights(patients, y, resampling)
    ]
    low, high = percentile_interval(np.concatenate(differences), resampling.level)
    return {
        "estimate": estimate,
        "interval": [low, high],
        "tie": bool(low <= 0 <= high),
    }
