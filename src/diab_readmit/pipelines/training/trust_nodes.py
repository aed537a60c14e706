"""Nodes of the training template that answer a clinician's three questions.

Why is this patient high-risk (``explain_evaluation_windows``: top reasons per encounter of
the test and OOT windows, and mean |contribution| per feature), does the model work as well
for every group, and how sure are we of the numbers (``assess_trust``: performance by group
and patient-resampled bootstrap intervals). Both run on the evaluation windows only; the
train window is never explained, and nothing here chooses anything.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from diab_readmit.contracts import (
    EVALUATION_WINDOWS,
    LABEL,
    WINDOWS,
    PreprocessedSnapshot,
)
from diab_readmit.datasets.parquet_window import (
    Window,
    column_values,
    read_columns,
    window_frames,
)

from .bootstrap import Resampling, metric_intervals
from .explanations import contributions, gold_values, ranked_mean_abs, reasons_table
from .group_performance import TrustSettings, performance_by_group

#: Rows of a lazy window explained at a time: TreeSHAP's float64 contributions of 100,000
#: rows x 183 inputs are ~150 MB, and the ordering of reasons as much again.
EXPLAIN_BATCH_ROWS = 100_000

#: Highest-risk test encounters whose reasons are kept in the metadata, as examples.
EXAMPLES = 5


def predictions_fingerprint(predictions: pd.DataFrame) -> str:
    """sha256 of the (window, encounter_id, risk) of evaluation predictions: the metadata
    records it, so a reader can tell whether a predictions file belongs to a version. Built
    from fixed-width numbers, so a parquet round trip keeps it."""
    digest = hashlib.sha256()
    for column, dtype in (
        ((predictions["window"] == "test").to_numpy(), np.int8),
        (predictions["encounter_id"].to_numpy(), np.int64),
        (predictions["risk"].to_numpy(), np.float64),
    ):
        digest.update(np.ascontiguousarray(column, dtype=dtype).tobytes())
    return digest.hexdigest()


def explain_evaluation_windows(
    tuned_model: dict[str, Any],
    preprocessed_snapshot: PreprocessedSnapshot,
    test_scores: dict[str, np.ndarray],
    oot_scores: dict[str, np.ndarray],
    decision_threshold: dict[str, Any],
    trust: TrustSettings,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Top reasons of every test and OOT encounter, and the global view of the model.

    Returns:
        ``evaluation_predictions``: encounter_id, patient_nbr, partition_date, window,
        readmitted_30d, risk, flagged and the reason columns (``explanations.reasons_table``);
        ``explanations``: method, unit, mean |contribution| per feature on the test window
        (largest first), the reasons of the highest-risk test encounters, and the
        predictions' fingerprint.
    """
    classifier, features = tuned_model["classifier"], tuned_model["feature_columns"]
    threshold = decision_threshold["threshold"]
    frames, global_view, explained = [], None, None
    for window, scores in zip(
        EVALUATION_WINDOWS, (test_scores, oot_scores), strict=True
    ):
        rows = preprocessed_snapshot.window(window)
        identity = [
            c for c in ("encounter_id", "patient_nbr", "partition_date") if c in rows
        ]
        absolute_sum, start = np.zeros(len(features)), 0
        for batch in window_frames(rows, [*identity, *features], EXPLAIN_BATCH_ROWS):
            explained = contributions(classifier, batch[features])
            absolute_sum += np.abs(explained.values).sum(axis=0)
            values = gold_values(batch[features], preprocessed_snapshot.scaler)
            reasons = reasons_table(explained, values, trust.top_reasons)
            stop = start + len(batch)
            frames.append(
                _predictions(
                    batch[identity], window, scores, start, stop, threshold
                ).join(reasons.reset_index(drop=True))
            )
            start = stop
        if window == "test":
            global_view = ranked_mean_abs(
                absolute_sum / max(start, 1), explained.feature_names, explained.unit
            )
    predictions = pd.concat(frames, ignore_index=True)
    test_rows = predictions[predictions["window"] == "test"]
    examples = test_rows.nlargest(EXAMPLES, "risk")
    reason_columns = [
        c for c in predictions.columns if c.startswith("reason_") and "_" not in c[7:]
    ]
    return predictions, {
        "method": explained.method,
        "unit": explained.unit,
        "windows": list(EVALUATION_WINDOWS),
        "top_reasons": trust.top_reasons,
        "mean_abs_contribution": {
            "window": "test",
            "values": {str(k): float(v) for k, v in global_view.items()},
        },
        "examples": [
            {
                "risk": float(row["risk"]),
                "reasons": [
                    {
                        "phrase": row[column],
                        "feature": row[f"{column}_feature"],
                        "contribution": float(row[f"{column}_contribution"]),
                    }
                    for column in reason_columns
                ],
            }
            for _, row in examples.iterrows()
        ],
        "predictions_rows": int(len(predictions)),
        "predictions_sha256": predictions_fingerprint(predictions),
    }


def _predictions(
    identity: pd.DataFrame,
    window: str,
    scores: dict[str, np.ndarray],
    start: int,
    stop: int,
    threshold: float,
) -> pd.DataFrame:
    """The identity columns of rows ``start:stop`` of a window with their label and risk."""
    risk = scores["y_score"][start:stop]
    return pd.concat(
        [
            identity.reset_index(drop=True),
            pd.DataFrame(
                {
                    "window": window,
                    LABEL: scores["y_true"][start:stop],
                    "risk": risk,
                    "flagged": risk >= threshold,
                }
            ),
        ],
        axis=1,
    )


def assess_trust(
    preprocessed_snapshot: PreprocessedSnapshot,
    test_scores: dict[str, np.ndarray],
    oot_scores: dict[str, np.ndarray],
    decision_threshold: dict[str, Any],
    trust: TrustSettings,
) -> dict[str, Any]:
    """Bootstrap intervals of the headline metrics and performance by group, test and OOT.

    Returns ``{"intervals": {window: {metric: {"estimate", "interval"}}}, "groups":
    {window: {"rows": [...], "unavailable": {...}}}, "bootstrap": settings, ...}``.
    """
    resampling = Resampling(**trust.bootstrap.model_dump())
    threshold = decision_threshold["threshold"]
    intervals, groups = {}, {}
    for window, scores in zip(
        EVALUATION_WINDOWS, (test_scores, oot_scores), strict=True
    ):
        rows = preprocessed_snapshot.window(window)
        patients = (
            column_values(rows, "patient_nbr")
            if "patient_nbr" in rows
            else np.arange(len(rows))
        )
        intervals[window] = metric_intervals(
            scores["y_true"], scores["y_score"], patients, resampling
        )
        values = gold_values(
            read_columns(rows, _group_columns(rows, trust)),
            preprocessed_snapshot.scaler,
        )
        groups[window] = performance_by_group(
            scores["y_true"], scores["y_score"], values, threshold, trust
        )
    return {
        "intervals": intervals,
        "bootstrap": {
            **trust.bootstrap.model_dump(),
            "resampled": "patients (patient_nbr), stratified by any readmission",
            "interval": "percentile",
        },
        "groups": groups,
        "group_settings": {
            "groupings": {
                name: spec.model_dump() for name, spec in trust.groups.items()
            },
            "min_group_rows": trust.min_group_rows,
            "min_group_positives": trust.min_group_positives,
            "threshold": threshold,
        },
    }


def collect_evidence(
    explanations: dict[str, Any],
    trust_assessment: dict[str, Any],
    decision_assessment: dict[str, Any],
) -> dict[str, Any]:
    """What the version's metadata says about its behaviour, in one dict: ``explanations``,
    then the keys of ``assess_trust`` and of ``decision_nodes.assess_decisions``."""
    return {"explanations": explanations, **trust_assessment, **decision_assessment}


def _group_columns(rows: Window, trust: TrustSettings) -> list[str]:
    """The model inputs the groupings read: a named column or a one-hot family."""
    wanted = []
    for spec in trust.groups.values():
        wanted += [
            c
            for c in rows.columns
            if c == spec.column or str(c).startswith(f"{spec.column}_")
        ]
    return list(dict.fromkeys(wanted))


#: Discharge levels of the gold store that end any chance of readmission.
TERMINAL_DISCHARGES = ("discharge_expired", "discharge_hospice")


def population(snapshot: PreprocessedSnapshot) -> dict[str, Any]:
    """Who the model was trained and evaluated on, as the snapshot itself records it.

    The windows (dates, rows, readmission rates), the order audit of the gold store (how
    encounter dates were made and which segments were unreliable), and the cohort as the
    data show it: the share of death or hospice discharges in each window (0 when
    ``cohort.exclude_discharge_dispositions`` removed them).
    """
    metadata = snapshot.metadata or {}
    source = metadata.get("source") or {}
    terminal = {}
    for window in WINDOWS:
        rows = snapshot.window(window)
        present = [c for c in TERMINAL_DISCHARGES if c in rows]
        terminal[window] = (
            float(read_columns(rows, present).to_numpy().max(axis=1).mean())
            if present and len(rows)
            else None
        )
    return {
        "snapshot_id": snapshot.snapshot_id,
        "windows": metadata.get("windows") or {},
        "order_audit": (source.get("feature_store") or {}).get("order_audit"),
        # The raw file the gold stores were built from (datasets/raw_provenance.py).
        "raw_source": (source.get("feature_store") or {}).get("raw_source"),
        "rows_dropped": metadata.get("rows_dropped") or {},
        "death_or_hospice_share": terminal,
    }
