"""The rows of the comparison and version-history tables, read from registry history views.

Each history view is one algorithm's ``<algorithm>.model_registry@history`` load (see the
module docstring of ``nodes``). Anything a registry would never write (a view without
``algorithm``, metadata without the metrics that choose the best model, a versions.json entry
without ``id``) is a ``ReportInputError`` naming the algorithm, the file and the command that
rebuilds it.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from diab_readmit.contracts import EVALUATION_WINDOWS
from diab_readmit.datasets.raw_provenance import describe as describe_raw_source
from diab_readmit.errors import UserFixableError
from diab_readmit.number_format import as_float

from .parameter_models import LOWER_IS_BETTER, ReportSettings

VERSION_HISTORY_COLUMNS = [
    "algorithm",
    "version_id",
    "created_at",
    "test_auc_roc",
    "oot_auc_roc",
    "snapshot_id",
    "trained_on",
    "sha256",
    "latest",
    "status",
    "gate",
    "gate_reasons",
    "promoted_by",
]


class ReportInputError(UserFixableError, ValueError):
    """A registry history view the report cannot read; the message says how to rebuild it."""


def algorithm_of(history: dict[str, Any]) -> str:
    """The algorithm a history view belongs to."""
    if not isinstance(history, dict) or "algorithm" not in history:
        raise ReportInputError(
            f"A model registry history view must be a dict with an 'algorithm' key, got "
            f"{type(history).__name__} {str(history)[:200]!r}. Check that the reporting inputs "
            f"are '<algorithm>.model_registry@history' datasets of the ModelRegistry type."
        )
    return str(history["algorithm"])


def latest_version_row(history: dict[str, Any], settings: ReportSettings) -> dict:
    """One comparison row: the latest version's metadata and its test and OOT metrics.

    An algorithm never registered keeps a row with ``registered`` False, so the report says
    so instead of silently leaving it out.
    """
    algorithm = algorithm_of(history)
    latest = history.get("latest")
    row: dict[str, Any] = {
        "algorithm": algorithm,
        "registered": latest is not None,
        "version_id": None,
        "training_date": None,
        "snapshot_id": None,
        "threshold": math.nan,
        "cv_score": math.nan,
        "training_seconds": math.nan,
        "n_versions": len(history.get("versions") or []),
        "test_window": None,
        "oot_window": None,
        "trained_on": None,
    }
    if latest is None:
        return row
    performance = _performance_of(algorithm, latest, settings.metrics_to_show)
    _require_selection_metric(algorithm, performance["test"], settings.selection_metric)
    row.update(
        version_id=latest.get("version_id"),
        training_date=latest.get("training_date"),
        snapshot_id=latest.get("snapshot_id"),
        threshold=as_float(latest.get("threshold")),
        cv_score=as_float(latest.get("cv_score")),
        training_seconds=as_float(latest.get("training_seconds")),
        test_window=_window_text(latest, "test"),
        oot_window=_window_text(latest, "oot"),
        trained_on=_trained_on(latest),
    )
    for window in EVALUATION_WINDOWS:
        for metric, value in performance[window].items():
            row[f"{window}_{metric}"] = value
    return row


def comparison_columns(rows: list[dict], settings: ReportSettings) -> list[str]:
    """The comparison table's columns: the rows' own, then every window x metric."""
    columns = list(rows[0]) if rows else ["algorithm", "registered"]
    for window in EVALUATION_WINDOWS:
        columns += [
            f"{window}_{metric}"
            for metric in settings.metrics_to_show
            if f"{window}_{metric}" not in columns
        ]
    return columns


def on_reference_windows(table: pd.DataFrame) -> pd.Series:
    """True for registered rows tested on the reference windows, trained on its raw file.

    The reference is the windows (and raw file) most latest versions share; ties go to the windows of the
    most recently trained version.
    """
    registered = table[table["registered"].astype(bool)]
    comparable = pd.Series(False, index=table.index)
    if registered.empty:
        return comparable
    # Models of different raw files (the demo's, a hospital's) are never compared either.
    windows = list(
        zip(
            registered["test_window"],
            registered["oot_window"],
            registered["trained_on"],
            strict=True,
        )
    )
    counts = pd.Series(windows).value_counts(sort=False)
    tied = set(counts[counts == counts.max()].index)
    newest_first = registered.assign(key=windows).sort_values(
        "training_date", ascending=False, na_position="last"
    )
    reference = next(key for key in newest_first["key"] if key in tied)
    comparable[registered.index] = [key == reference for key in windows]
    return comparable


def best_of(table: pd.DataFrame, settings: ReportSettings) -> pd.Series:
    """True for the comparable row with the best TEST selection metric (ties: the first)."""
    best = pd.Series(False, index=table.index)
    candidates = table[table["registered"] & table["comparable"]]
    if candidates.empty:
        return best
    scores = candidates[f"test_{settings.selection_metric}"]
    lowest = settings.selection_metric in LOWER_IS_BETTER
    best[scores.idxmin() if lowest else scores.idxmax()] = True
    return best


def version_rows(history: dict[str, Any]) -> list[dict[str, Any]]:
    """One version-history row per ``versions.json`` entry, oldest first.

    ``status`` (champion / retired / rejected / candidate) and ``gate`` (the champion
    gate's decision) come from versions.json; ``gate_reasons`` is why, in one line, and
    ``promoted_by`` the last manual promotion or rollback of the version, if any.
    """
    algorithm = algorithm_of(history)
    latest_id = (history.get("latest") or {}).get("version_id")
    rows = []
    for position, entry in enumerate(history.get("versions") or []):
        if "id" not in entry:
            raise ReportInputError(
                f"versions.json of algorithm '{algorithm}' has an entry without 'id' at "
                f"position {position}: {entry!r}. The registry writes every entry with an id, "
                f"so the file was edited by hand: delete versions.json and the next "
                f"`kedro run --pipelines {algorithm}` rebuilds it from the version folders."
            )
        rows.append(
            {
                "algorithm": algorithm,
                "version_id": entry["id"],
                "created_at": entry.get("created_at"),
                "test_auc_roc": as_float(entry.get("test_auc_roc")),
                "oot_auc_roc": as_float(entry.get("oot_auc_roc")),
                "snapshot_id": entry.get("snapshot_id"),
                # Versions trained on different raw files are never one series.
                "trained_on": describe_raw_source(entry.get("raw_source")),
                "sha256": entry.get("sha256"),
                "latest": entry["id"] == latest_id,
                "status": entry.get("status"),
                "gate": (entry.get("gate") or {}).get("decision"),
                "gate_reasons": "; ".join(
                    (entry.get("gate") or {}).get("reasons") or []
                ),
                "promoted_by": _last_promotion(entry.get("promotions") or []),
            }
        )
    return rows


def _trained_on(latest: dict[str, Any]) -> str | None:
    """The raw file a latest version was trained on, or None if it was not recorded."""
    source = (latest.get("population") or {}).get("raw_source")
    return describe_raw_source(source) if source else None


def _last_promotion(promotions: list[dict[str, Any]]) -> str | None:
    """ "by <user> at <time>: <reason>" of a version's last manual promotion."""
    if not promotions:
        return None
    last = promotions[-1]
    return (
        f"by {last.get('promoted_by') or 'unknown'} at {last.get('promoted_at') or '?'}: "
        f"{last.get('reason') or 'no reason given'}"
    )


def _window_text(latest: dict[str, Any], window: str) -> str | None:
    """``start..end`` of a version's test or OOT window, from its metadata's temporal_splits."""
    bounds = (latest.get("temporal_splits") or {}).get(window) or {}
    if not bounds.get("start_date") and not bounds.get("end_date"):
        return None
    return f"{bounds.get('start_date', '?')}..{bounds.get('end_date', '?')}"


def _performance_of(
    algorithm: str, latest: dict[str, Any], metrics: list[str]
) -> dict[str, dict[str, float]]:
    performance = latest.get("performance")
    where = f"metadata.json of the latest '{algorithm}' version ({latest.get('version_id', '?')})"
    if not isinstance(performance, dict):
        raise ReportInputError(
            f"{where} has no 'performance' section. Re-register the model with "
            f"`kedro run --pipelines {algorithm}`."
        )
    result: dict[str, dict[str, float]] = {}
    for window in EVALUATION_WINDOWS:
        scores = performance.get(window)
        if not isinstance(scores, dict):
            raise ReportInputError(
                f"{where} has no performance.{window} metrics. Re-register the model with "
                f"`kedro run --pipelines {algorithm}`."
            )
        result[window] = {metric: as_float(scores.get(metric)) for metric in metrics}
    return result


def _require_selection_metric(
    algorithm: str, scores: dict[str, float], metric: str
) -> None:
    if math.isnan(scores[metric]):
        raise ReportInputError(
            f"metadata.json of the latest '{algorithm}' version has no numeric "
            f"performance.test.{metric}, the metric that chooses the best model "
            f"(reporting.report.selection_metric). Re-register the model with "
            f"`kedro run --pipelines {algorithm}` or choose another selection_metric."
        )
