"""Operating points a care team states: a capacity ("we can call 20% of discharges", or 150
a month) or a threshold probability ("a call is worth it from a 15% risk"), and what each
point does on a window.

A capacity becomes a threshold on the TEST window (the risk of its last flagged encounter),
never on OOT; the same threshold then flags what it flags on OOT and on new months, so a
flagged share that moves away from the capacity is drift a team would feel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diab_readmit.errors import UserFixableError
from diab_readmit.parameter_models import CapacitySettings

from .decision_curves import net_benefit

#: Capacities of the operating-point table: shares of a window's encounters.
CAPACITIES = (0.05, 0.10, 0.20, 0.30)


def capacity_threshold(y_score: np.ndarray, share: float) -> float:
    """The risk from which the top ``share`` of ``y_score`` is flagged (at least one row)."""
    ranked = np.sort(np.asarray(y_score, dtype=np.float64))[::-1]
    flagged = min(len(ranked), max(1, int(round(share * len(ranked)))))
    return float(ranked[flagged - 1])


def monthly_share(per_month: int, rows: int, months: int) -> float:
    """The share of a window that ``per_month`` flags a month are, given its volume."""
    return per_month * max(months, 1) / max(rows, 1)


def months_in(month: np.ndarray | None, rows: int) -> int:
    """Distinct months among a window's ``month`` values (1 when unknown or empty)."""
    if month is None or not rows:
        return 1
    return max(1, len(np.unique(month)))


class CapacityError(UserFixableError, ValueError):
    """A capacity that would flag every encounter of the test window."""


def capacity_rule(
    test_scores: dict[str, np.ndarray], capacity: CapacitySettings
) -> tuple[float, float]:
    """The ``capacity`` threshold rule on the test window: (threshold, share it flags)."""
    rows = len(test_scores["y_score"])
    share = capacity.share
    if capacity.per_month is not None:
        months = months_in(test_scores.get("month"), rows)
        share = monthly_share(capacity.per_month, rows, months)
        if share >= 1:
            raise CapacityError(
                f"training_config.capacity.per_month={capacity.per_month} is at least the "
                f"test window's {rows / months:.0f} encounters a month, so the capacity rule "
                f"would flag everyone. Lower it, or use capacity.share."
            )
    threshold = capacity_threshold(test_scores["y_score"], share)
    return threshold, float(np.mean(test_scores["y_score"] >= threshold))


def net_benefit_at(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> float:
    """The net benefit of flagging ``y_score >= threshold`` (the ``net_benefit`` rule's
    criterion)."""
    ones = np.ones((1, len(y_true)))
    return float(net_benefit(y_true, y_score, ones, np.r_[threshold])["model"][0, 0])


def operating_point(
    y_true: np.ndarray, y_score: np.ndarray, threshold: float, months: int
) -> dict[str, Any]:
    """What flagging ``y_score >= threshold`` does on one window.

    Returns flagged (count, share, per month), readmissions caught, sensitivity, PPV,
    readmissions caught per 100 flagged, number flagged per readmission caught and the
    readmissions the risks expect among the flagged (their sum). Undefined values are None.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_score = np.asarray(y_score, dtype=np.float64)
    flagged = y_score >= threshold
    count, caught = int(flagged.sum()), int(y_true[flagged].sum())
    positives = int(y_true.sum())
    return {
        "threshold": float(threshold),
        "flagged": count,
        "flagged_share": count / len(y_true) if len(y_true) else None,
        "flagged_per_month": count / max(months, 1),
        "caught": caught,
        "sensitivity": caught / positives if positives else None,
        "ppv": caught / count if count else None,
        "caught_per_100_flagged": 100 * caught / count if count else None,
        "flagged_per_caught": count / caught if caught else None,
        "expected_among_flagged": float(y_score[flagged].sum()),
    }


def capacity_table(
    scores: dict[str, dict[str, np.ndarray]],
    chosen: dict[str, Any],
    capacities: tuple[float, ...] | list[float] = CAPACITIES,
) -> dict[str, list[dict[str, Any]]]:
    """The chosen operating point and each capacity, on every window of ``scores``.

    Thresholds come from ``scores["test"]`` only (the chosen point's is the registered
    threshold); each window's rows say what that threshold does there.

    Returns ``{window: [{"point": "chosen" | "capacity", "capacity", ...operating_point}]}``.
    """
    test = scores["test"]["y_score"]
    points = [("chosen", None, float(chosen["threshold"]))] + [
        ("capacity", float(share), capacity_threshold(test, share))
        for share in capacities
    ]
    table = {}
    for window, window_scores in scores.items():
        months = months_in(window_scores.get("month"), len(window_scores["y_true"]))
        table[window] = [
            {
                "point": point,
                "capacity": share,
                **operating_point(
                    window_scores["y_true"], window_scores["y_score"], threshold, months
                ),
            }
            for point, share, threshold in points
        ]
    return table
