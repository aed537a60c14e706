"""The batch-scoring summary a care team reads: per scored extract, how many encounters the
champion flagged and how many readmissions its calibrated risks expect among them, and what
each capacity of the model's operating-point table would mean this month.

"Expected readmissions among the flagged" is the sum of their risks: calibrated risks are
probabilities, so the sum is the number of readmissions the model expects (the month's
outcomes, 30+ days later, say how close it was: see monitoring).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from diab_readmit.pipelines.training.operating_points import CAPACITIES

from .features import EXTRACT

logger = logging.getLogger(__name__)


def _capacity_rows(risk: np.ndarray, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """Each capacity of the model's table: its test threshold applied to this extract, and
    the top share of this extract's own encounters."""
    test_points = [
        row
        for row in ((metadata.get("operating_points") or {}).get("test") or [])
        if row.get("point") == "capacity"
    ]
    registered = {row["capacity"]: row["threshold"] for row in test_points}
    ranked = np.sort(risk)[::-1]
    rows = []
    for share in registered or CAPACITIES:
        top = min(len(ranked), int(round(share * len(ranked))))
        threshold = registered.get(share)
        at_threshold = risk >= threshold if threshold is not None else None
        rows.append(
            {
                "capacity": float(share),
                "top_flagged": top,
                "top_expected_readmissions": float(ranked[:top].sum()),
                "test_threshold": threshold,
                "flagged_at_test_threshold": None
                if at_threshold is None
                else int(at_threshold.sum()),
                "expected_at_test_threshold": None
                if at_threshold is None
                else float(risk[at_threshold].sum()),
            }
        )
    return rows


def extract_summary(rows: pd.DataFrame, champion: dict[str, Any]) -> dict[str, Any]:
    """One extract's summary: scored, flagged, expected readmissions, capacities."""
    risk = rows["risk"].to_numpy(np.float64)
    flagged = rows["flagged"].to_numpy(bool)
    expected_all = float(risk.sum())
    expected_flagged = float(risk[flagged].sum())
    months = sorted(
        pd.to_datetime(rows["partition_date"]).dt.strftime("%Y-%m").unique()
    )
    summary = {
        "months": months,
        "scored": int(len(rows)),
        "flagged": int(flagged.sum()),
        "flagged_share": float(flagged.mean()) if len(rows) else None,
        "threshold": float(champion["metadata"]["threshold"]),
        "threshold_rule": champion["metadata"].get("threshold_rule"),
        "expected_readmissions": expected_all,
        "expected_among_flagged": expected_flagged,
        "expected_share_reached": expected_flagged / expected_all
        if expected_all
        else None,
        "capacities": _capacity_rows(risk, champion["metadata"]),
    }
    summary["sentence"] = (
        f"{', '.join(months) or 'no month'}: {summary['flagged']:,} of "
        f"{summary['scored']:,} flagged (risk >= {summary['threshold']:.3f}); expected "
        f"readmissions among them ≈ {expected_flagged:.1f} of ≈ {expected_all:.1f} in the "
        f"extract"
    )
    return summary


def summarise_scoring(
    predictions: pd.DataFrame, champion: dict[str, Any]
) -> dict[str, Any]:
    """``scoring_summary.json``: the champion and, per extract scored by this run, flagged
    encounters, the readmissions their risks expect, and the capacities of its table.

    Args:
        predictions: this run's predictions (``score_new_encounters``).
        champion: the verified champion bundle that scored them.

    Returns:
        ``{"algorithm", "model_version", "operating_points" (the model's own, test and OOT),
        "extracts": {extract: extract_summary}}``; each extract's sentence is logged.
    """
    extracts = {
        str(name): extract_summary(rows, champion)
        for name, rows in predictions.groupby(EXTRACT, sort=True)
    }
    for name, summary in extracts.items():
        logger.info("Scoring summary %s: %s", name, summary["sentence"])
    return {
        "algorithm": champion["algorithm"],
        "model_version": champion["version_id"],
        "operating_points": champion["metadata"].get("operating_points"),
        "extracts": extracts,
    }
