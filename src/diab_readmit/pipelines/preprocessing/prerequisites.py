"""Prerequisite checks of preprocessing: the configuration is valid, the gold stores exist,
and there is enough history to train on.

They are the first nodes of the ``preprocessing`` pipeline, and every node that reads gold
data depends on their outputs, so a failed check stops the run before any data is read. The
Airflow DAG calls the same three functions from its ShortCircuitOperators with the
parameters and the two store indexes of a Kedro session::

    from diab_readmit.pipelines.preprocessing.prerequisites import (
        PrerequisiteError,
        check_gold_data_exists,
    )

    try:
        check_gold_data_exists(
            catalog.load("feature_store@index"), catalog.load("label_store@index")
        )
    except PrerequisiteError as exc:
        log.warning("%s", exc)
        return False  # skip the rest of the DAG
    return True

Each function is pure (no I/O: the indexes are already loaded manifests), returns a small
summary on success and raises ``PrerequisiteError`` whose message says what is missing and
what to run.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from pydantic import BaseModel, ValidationError

from diab_readmit.errors import UserFixableError
from diab_readmit.parameter_models import TemporalSplits, TrainingConfig

from .parameter_models import PreprocessingParams

#: Where each checked parameter is configured, for the error messages.
_PARAMETER_FILES = {
    "temporal_splits": "conf/base/parameters_preprocessing.yml",
    "preprocessing": "conf/base/parameters_preprocessing.yml",
    "training_config": "conf/base/parameters_training.yml",
}

_RUN_DATA_PROCESSING = "Run `kedro run --pipelines data_processing` first."


class PrerequisiteError(UserFixableError, RuntimeError):
    """A prerequisite of preprocessing is not met; the message says what to do about it."""


def check_model_config(
    temporal_splits: TemporalSplits,
    training_config: TrainingConfig,
    preprocessing: PreprocessingParams,
) -> dict[str, Any]:
    """Check the configuration preprocessing and training rely on.

    Accepts the validated models (as Kedro passes them) or the raw parameter dicts (as read
    from the config), so the DAG and the pipeline apply the same rules: dates parse, windows
    are ordered train < test < oot without overlap, algorithm names are known, and, because
    windows select whole monthly partitions of the gold stores, every window starts on the
    first day of a month and ends on the last day of one.

    Returns:
        The windows (ISO dates) and the enabled algorithms, recorded in the snapshot metadata.

    Raises:
        PrerequisiteError: naming each invalid key, its value and the file that sets it.
    """
    problems: list[str] = []
    splits = _validated(TemporalSplits, temporal_splits, "temporal_splits", problems)
    training = _validated(TrainingConfig, training_config, "training_config", problems)
    _validated(PreprocessingParams, preprocessing, "preprocessing", problems)
    if problems:
        raise PrerequisiteError(
            "Invalid configuration:\n- "
            + "\n- ".join(problems)
            + "\nFix it in the file named, or in the --params you passed."
        )

    misaligned = []
    for name, window in splits.windows().items():
        if window.start_date.day != 1:
            misaligned.append(
                f"temporal_splits.{name}.start_date = {window.start_date} is not the first day "
                f"of a month (use {window.start_date.replace(day=1)})"
            )
        if window.end_date != _month_end(window.end_date):
            misaligned.append(
                f"temporal_splits.{name}.end_date = {window.end_date} is not the last day "
                f"of a month (use {_month_end(window.end_date)})"
            )
    if misaligned:
        raise PrerequisiteError(
            "Invalid temporal windows: windows select whole monthly partitions "
            "(partition_date), so a window cut mid-month would put the rest of that month "
            "in the wrong window.\n- " + "\n- ".join(misaligned) + "\nFix them in "
            f"{_PARAMETER_FILES['temporal_splits']} or in the --params you passed."
        )
    return {
        "temporal_splits": {
            name: {
                "start_date": w.start_date.isoformat(),
                "end_date": w.end_date.isoformat(),
            }
            for name, w in splits.windows().items()
        },
        "enabled_algorithms": training.enabled(),
    }


def check_gold_data_exists(
    feature_store_index: dict[str, Any], label_store_index: dict[str, Any]
) -> dict[str, Any]:
    """Check that the gold feature store and label store were written and hold rows.

    Args:
        feature_store_index: ``feature_store@index`` loaded (a ``DeltaTableIndex``).
        label_store_index: ``label_store@index`` loaded.

    Returns:
        Per store: path, Delta table version, rows and its partitions, recorded in the
        snapshot metadata.

    Raises:
        PrerequisiteError: naming each store that is missing or empty and where it was looked for.
    """
    problems = [
        problem
        for name, index in (
            ("feature store", feature_store_index),
            ("label store", label_store_index),
        )
        if (problem := _store_problem(name, index))
    ]
    if problems:
        raise PrerequisiteError(
            "Gold data is missing: " + "; ".join(problems) + ". " + _RUN_DATA_PROCESSING
        )
    return {
        "feature_store": _store_summary(feature_store_index),
        "label_store": _store_summary(label_store_index),
    }


def check_sufficient_training_data(
    feature_store_index: dict[str, Any], min_partitions: int
) -> int:
    """Check that the feature store has at least ``min_partitions`` non-empty monthly partitions.

    Args:
        feature_store_index: ``feature_store@index`` loaded.
        min_partitions: ``preprocessing.min_partitions``.

    Returns:
        The number of non-empty partitions.

    Raises:
        PrerequisiteError: saying how many partitions there are, how many are needed, and how
            to get more.
    """
    problem = _store_problem("feature store", feature_store_index)
    if problem:
        raise PrerequisiteError(
            f"Not enough training data: {problem}. {_RUN_DATA_PROCESSING}"
        )
    partitions = _filled_partitions(feature_store_index)
    if len(partitions) < min_partitions:
        raise PrerequisiteError(
            f"Not enough training data: the feature store at {feature_store_index['path']} has "
            f"{len(partitions)} non-empty monthly partition(s) "
            f"({_span(partitions)}), fewer than preprocessing.min_partitions = {min_partitions}. "
            f"Process a longer period (encounter_dates in "
            f"conf/base/parameters_data_processing.yml, then `kedro run --pipelines "
            f"data_processing`), or lower preprocessing.min_partitions in "
            f"{_PARAMETER_FILES['preprocessing']}."
        )
    return len(partitions)


def record_prerequisites(
    model_config: dict[str, Any], gold_sources: dict[str, Any], partition_count: int
) -> dict[str, Any]:
    """Gather the three checks' results into one record for the snapshot metadata.

    Every node that reads gold data takes this record as an input, which is what makes
    Kedro run those nodes only after all three checks passed.
    """
    return {**model_config, "sources": gold_sources, "partition_count": partition_count}


def _validated(
    model: type[BaseModel], value: Any, key: str, problems: list[str]
) -> Any:
    """``value`` as a ``model``, or None with a line per problem appended to ``problems``."""
    where = _PARAMETER_FILES[key]
    if value is None:
        problems.append(f"{key} is missing: set it in {where}")
        return None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["loc"]:
                name = ".".join([key, *map(str, error["loc"])])
                problems.append(f"{name} = {error['input']!r}: {message} ({where})")
            else:  # a rule across fields: the message names them
                problems.append(f"{key}: {message} ({where})")
        return None


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _store_problem(name: str, index: dict[str, Any]) -> str | None:
    if not index.get("exists"):
        return (
            f"the {name} at {index.get('path')} does not exist (no Delta table there)"
        )
    if not index.get("rows") or not _filled_partitions(index):
        return f"the {name} at {index.get('path')} is empty (0 rows)"
    return None


def _filled_partitions(index: dict[str, Any]) -> list[str]:
    return sorted(
        p["partition"] for p in index.get("partitions", []) if p.get("rows", 0) > 0
    )


def _span(partitions: list[str]) -> str:
    if not partitions:
        return "none"
    return f"{partitions[0].split('=')[-1]} .. {partitions[-1].split('=')[-1]}"


def _store_summary(index: dict[str, Any]) -> dict[str, Any]:
    partitions = _filled_partitions(index)
    summary = {
        "path": str(index["path"]),
        "version": index.get("version"),  # the Delta table version read (time travel)
        "rows": int(index["rows"]),
        "partition_count": len(partitions),
        "partitions": partitions,
    }
    # The raw file the store was built from: path, sha256, demo data or not.
    raw_source = (index.get("attrs") or {}).get("raw_source")
    if raw_source:
        summary["raw_source"] = raw_source
    audit = (index.get("attrs") or {}).get("order_audit")
    if (
        audit
    ):  # what the model's history features could trust (data_processing's order audit)
        summary["order_audit"] = {
            key: audit.get(key)
            for key in (
                "order",
                "dates_synthesized",
                "unreliable_segments",
                "history_restricted",
                "encounters_in_unreliable_segments",
                "threshold",
                "overall_contradiction_rate",
            )
        }
    return summary
