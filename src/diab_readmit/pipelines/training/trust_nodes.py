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

from .bootstrap import Resampling, metric_intervals
from .explanations import contributions, gold_values, reasons_table
from .group_performance import TrustSettings, performance_by_group

#: Highest-risk test encounters whose reasons are kept in the metadata, as examples.
EXAMPLES = 5


def _window_values(snapshot: PreprocessedSnapshot, window: str, features: list[str]):
    rows = snapshot.window(window)
    return rows, gold_values(rows[features], snapshot.scaler)


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
        rows, values = _window_values(preprocessed_snapshot, window, features)
        explained = contributions(classifier, rows[features])
        if window == "test":
            global_view = explained.mean_absolute()
        reasons = reasons_table(explained, values, trust.top_reasons)
        identity = [
            c for c in ("encounter_id", "patient_nbr", "partition_date") if c in rows
        ]
        frames.append(
            pd.concat(
                [
                    rows[identity].reset_index(drop=True),
                    pd.DataFrame(
                        {
                            "window": window,
                            LABEL: scores["y_true"],
                            "risk": scores["y_score"],
                            "flagged": scores["y_score"] >= threshold,
                        }
                    ),
                    reasons.reset_index(drop=True),
                ],
                axis=1,
            )
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
            rows["patient_nbr"].to_numpy()
            if "patient_nbr" in rows
            else np.arange(len(rows))
        )
        intervals[window] = metric_intervals(
            scores["y_true"], scores["y_score"], patients, resampling
        )
        values = gold_values(
            rows[_group_columns(rows, trust)], preprocessed_snapshot.scaler
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


def _group_columns(rows: pd.DataFrame, trust: TrustSettings) -> list[str]:
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
            float(rows[present].to_numpy().max(axis=1).mean())
            if present and len(rows)
            else None
        )
    return {
        "snapshot_id": snapshot.snapshot_id,
        "windows": metadata.get("windows") or {},
        "order_audit": (source.get("feature_store") or {}).get("order_audit"),
        "rows_dropped": metadata.get("rows_dropped") or {},
        "death_or_hospice_share": terminal,
    }
