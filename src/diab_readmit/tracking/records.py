"""What a tracked run records, as pure functions of what the run's nodes produced.

The hook (:mod:`diab_readmit.tracking.hooks`) hands these the parameters, the snapshot's
metadata and the training nodes' outputs, and sends what they return to MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

#: Parameters of the whole run (the keys of conf/base/parameters_*.yml) that shape what it
#: trains: windows, cohort, encounter dates, preprocessing, search and calibration settings.
RUN_PARAMETERS = (
    "temporal_splits",
    "cohort",
    "encounter_dates",
    "preprocessing",
    "training_config",
    "promotion",
    "snapshot_id",
)
#: Parameters of one algorithm (its block in parameters_training.yml).
ALGORITHM_PARAMETERS = ("estimator", "search")
#: MLflow's limit on a parameter value, in characters.
MAX_PARAM_LENGTH = 6000


def flat_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters (dicts or pydantic models) as ``{"a.b.c": "value"}``, each value
    cut to MLflow's limit."""
    flat: dict[str, str] = {}
    for key, given in values.items():
        name = f"{prefix}{key}"
        # Kedro hands validated parameters over as pydantic models.
        value = given.model_dump(mode="json") if hasattr(given, "model_dump") else given
        if isinstance(value, Mapping) and value:
            flat.update(flat_params(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def run_params(parameters: Mapping[str, Any]) -> dict[str, str]:
    """The run-wide parameters that shaped what it trains, flattened."""
    return flat_params(
        {key: parameters[key] for key in RUN_PARAMETERS if key in parameters}
    )


def algorithm_params(parameters: Mapping[str, Any], algorithm: str) -> dict[str, str]:
    """One algorithm's estimator and search settings, flattened."""
    block = parameters.get(algorithm) or {}
    return flat_params(
        {key: block[key] for key in ALGORITHM_PARAMETERS if key in block}
    )


def window_metrics(
    evaluation_metrics: Mapping[str, Mapping[str, Any]],
    intervals: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, float]:
    """Every numeric metric of every evaluation window, with its bootstrap interval.

    Args:
        evaluation_metrics: ``{window: {metric: value}}`` (``evaluate_windows``); any
            metric added there (net benefit, say) is recorded without a change here.
        intervals: ``trust_assessment["intervals"]``: ``{window: {metric: {"estimate",
            "interval": [low, high]}}}``.

    Returns:
        ``{"<window>_<metric>": value}`` plus ``<window>_<metric>_ci_low`` / ``_ci_high``;
        values that are not finite numbers are left out (MLflow stores floats).
    """
    metrics: dict[str, float] = {}
    for window, values in evaluation_metrics.items():
        for metric, value in values.items():
            _put(metrics, f"{window}_{metric}", value)
    for window, values in (intervals or {}).items():
        for metric, estimate in values.items():
            low, high = (estimate or {}).get("interval") or (None, None)
            _put(metrics, f"{window}_{metric}_ci_low", low)
            _put(metrics, f"{window}_{metric}_ci_high", high)
            _put(metrics, f"{window}_{metric}", (estimate or {}).get("estimate"), False)
    return metrics


def _put(
    metrics: dict[str, float], name: str, value: Any, overwrite: bool = True
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if not math.isfinite(value) or (not overwrite and name in metrics):
        return
    metrics[name] = float(value)


def candidates_table(candidates: list[Mapping[str, Any]]) -> pd.DataFrame:
    """The search's candidates, one row each, parameters as ``param_<name>`` columns, best
    rank first."""
    rows = [
        {
            **{f"param_{k}": str(v) for k, v in (c.get("params") or {}).items()},
            **{k: v for k, v in c.items() if k != "params"},
        }
        for c in candidates
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = [c for c in ("rank_test_score", "iter") if c in frame]
    return frame.sort_values(order, ascending=[True, False][: len(order)]).reset_index(
        drop=True
    )


def gold_versions(snapshot_metadata: Mapping[str, Any]) -> dict[str, str]:
    """The gold tables a snapshot was made from, as tags.

    ``gold_tables`` (``{table: {"path", "version", ...}}``) when the snapshot's metadata has
    it; otherwise the commit id (or table version) of each store in its ``source``;
    whatever those hold, as
    strings, so that neither shape is assumed beyond being a mapping.
    """
    tables = snapshot_metadata.get("gold_tables")
    if isinstance(tables, Mapping) and tables:
        return flat_params(tables, "gold_tables.")
    source = snapshot_metadata.get("source") or {}
    return {
        f"gold.{store}.{key}": str(summary[key])
        for store, summary in source.items()
        if isinstance(summary, Mapping)
        for key in ("commit_id", "version")
        if summary.get(key) is not None
    }
