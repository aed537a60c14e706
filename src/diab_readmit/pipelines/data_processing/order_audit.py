"""How far the assumed order of a patient's encounters holds, measured from the labels.

The UCI label says whether an encounter was followed by a readmission (``<30``, ``>30``) or
not (``NO``). If a patient's encounters are in the right order, every encounter followed by a
later one of the same patient was followed by a readmission, so a *non-last* encounter
labelled ``NO`` is a contradiction. On the real file their rate is at most 0.5% in each of
the first 85% of encounter ids and 7-27% in the last 10-15%, where a different id scheme
starts: encounter_id order stops being time order there.

The audit cuts the encounters, in the order history is built in, into equal segments and
measures that rate per segment. Where dates are synthesized from encounter_id order, an
unreliable segment's encounters are nobody's history (``history.patient_history``). With a
real date column the dates decide and the audit only reports.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .parameter_models import EncounterDatesParams, OrderAuditParams

logger = logging.getLogger(__name__)

#: Columns the audit adds to the encounters for the history features.
ORDER_KEY, USABLE_AS_PRIOR, ORDER_SEGMENT = (
    "history_order_key",
    "history_usable",
    "order_segment",
)


def order_keys(
    dated: pd.DataFrame, encounter_dates: EncounterDatesParams
) -> np.ndarray:
    """The key that orders a patient's encounters: the day with real dates, else the id rank.

    ``dated`` is in encounter_id order (``assign_encounter_dates``).
    """
    if encounter_dates.date_column is None:
        return np.arange(len(dated), dtype=np.int64)
    return dated["encounter_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)


def audit_encounter_order(
    dated: pd.DataFrame,
    order_audit: OrderAuditParams,
    encounter_dates: EncounterDatesParams,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Measure within-patient order contradictions per segment; mark what history may use.

    Args:
        dated: encounters in encounter_id order with ``encounter_date`` and ``readmitted``.
        order_audit: segments and the contradiction rate above which one is unreliable.
        encounter_dates: whether dates are real (``date_column``) or synthesized.

    Returns:
        ``dated`` with ``history_order_key``, ``history_usable`` and ``order_segment``, and
        the audit report (one entry per segment) for the gold store's metadata and the
        data-quality table.
    """
    synthesized = encounter_dates.date_column is None
    keys = order_keys(dated, encounter_dates)
    ids = dated["encounter_id"].to_numpy(dtype=np.int64)
    patients = dated["patient_nbr"].to_numpy(dtype=np.int64)
    n = len(dated)

    in_order = np.lexsort((ids, keys))  # audit order: by key, ties by id
    segment = np.empty(n, dtype=np.int64)
    n_segments = max(1, min(order_audit.segments, n))
    segment[in_order] = (np.arange(n) * n_segments) // max(n, 1)

    # Non-last: the patient has an encounter with a strictly larger key.
    latest_key = pd.Series(keys).groupby(patients).transform("max").to_numpy()
    followed = keys < latest_key
    contradiction = followed & (dated["readmitted"].to_numpy() == "NO")

    days = dated["encounter_date"].to_numpy(dtype="datetime64[D]")
    followed_per = np.bincount(segment, weights=followed, minlength=n_segments)
    contradictions_per = np.bincount(
        segment, weights=contradiction, minlength=n_segments
    )
    rates = np.divide(
        contradictions_per,
        followed_per,
        out=np.zeros(n_segments),
        where=followed_per > 0,
    )
    baseline = float(np.median(rates))
    threshold = max(
        order_audit.max_contradiction_rate, order_audit.baseline_multiple * baseline
    )
    rows = []
    for number in range(n_segments):
        members = segment == number
        n_followed, n_contradictions = (
            int(followed_per[number]),
            int(contradictions_per[number]),
        )
        rate = float(rates[number])
        rows.append(
            {
                "segment": number + 1,
                "share_from": round(number / n_segments, 4),
                "share_to": round((number + 1) / n_segments, 4),
                "encounters": int(members.sum()),
                "first_encounter_id": int(ids[members].min()),
                "last_encounter_id": int(ids[members].max()),
                "start_date": str(days[members].min()),
                "end_date": str(days[members].max()),
                "followed_encounters": n_followed,
                "contradictions": n_contradictions,
                "contradiction_rate": round(rate, 5),
                "order_reliable": not (
                    rate > threshold
                    and n_contradictions >= order_audit.min_contradictions
                ),
            }
        )
    reliable = np.array([row["order_reliable"] for row in rows])
    unreliable = [row["segment"] for row in rows if not row["order_reliable"]]
    usable = reliable[segment] if synthesized else np.ones(n, dtype=bool)
    report = {
        "order": "encounter_id (dates synthesized)"
        if synthesized
        else f"date column '{encounter_dates.date_column}'",
        "dates_synthesized": synthesized,
        "segments": rows,
        "median_contradiction_rate": round(baseline, 5),
        "threshold": round(threshold, 5),
        "max_contradiction_rate": order_audit.max_contradiction_rate,
        "baseline_multiple": order_audit.baseline_multiple,
        "min_contradictions": order_audit.min_contradictions,
        "unreliable_segments": unreliable,
        "encounters_in_unreliable_segments": int((~reliable[segment]).sum()),
        "history_restricted": bool(synthesized and unreliable),
        "overall_contradiction_rate": round(
            float(contradiction.sum() / max(int(followed.sum()), 1)), 5
        ),
    }
    if unreliable:
        described = ", ".join(
            f"{row['segment']} (ids {row['first_encounter_id']}..{row['last_encounter_id']}, "
            f"{row['start_date']}..{row['end_date']}: {100 * row['contradiction_rate']:.1f}%)"
            for row in rows
            if not row["order_reliable"]
        )
        consequence = (
            "their encounters take history only from reliable segments before them"
            if synthesized
            else "history still follows the date column; check those dates"
        )
        logger.warning(
            "Order audit: %d of %d segments have more than %.1f%% non-last encounters "
            "labelled NO, so the order of a patient's encounters there cannot be trusted: "
            "segments %s; %s. Table: order_audit in data/08_reporting/data_quality/.",
            len(unreliable),
            n_segments,
            100 * threshold,
            described,
            consequence,
        )
    else:
        logger.info(
            "Order audit: all %d segments consistent (contradiction rate %.2f%%)",
            n_segments,
            100 * report["overall_contradiction_rate"],
        )
    audited = dated.assign(
        **{ORDER_KEY: keys, USABLE_AS_PRIOR: usable, ORDER_SEGMENT: segment + 1}
    )
    return audited, report


def order_audit_table(order_audit_report: dict[str, Any]) -> pd.DataFrame:
    """The audit's segments as a data-quality table, one row per segment."""
    return pd.DataFrame(order_audit_report["segments"])


def draw_order_audit(order_audit_report: dict[str, Any]) -> Figure:
    """Bar chart of the contradiction rate per segment, unreliable ones marked."""
    table = order_audit_table(order_audit_report)
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    axes = figure.subplots()
    colours = np.where(table["order_reliable"], "#4c78a8", "#e45756")
    axes.bar(table["segment"], 100 * table["contradiction_rate"], color=colours)
    axes.axhline(
        100 * order_audit_report["threshold"],
        color="#555",
        linestyle="--",
        linewidth=1,
        label="threshold: max(max_contradiction_rate, baseline_multiple x median)",
    )
    axes.set_xlabel(f"segment of the encounters in {order_audit_report['order']} order")
    axes.set_ylabel("non-last encounters labelled NO (%)")
    axes.set_title("Order audit: within-patient contradictions (red: order unreliable)")
    axes.set_xticks(table["segment"])
    axes.legend(loc="upper left", frameon=False)
    return figure
