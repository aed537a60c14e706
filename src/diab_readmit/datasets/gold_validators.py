"""Checks of the gold feature and label stores, declared on the catalog entries
(``validator:``) so they run on every load and save, in pipelines and notebooks alike.

A violation names the partition, the column, an example value and its encounter_id; Kedro
adds the dataset name. The stores come from ``data_processing``, so the fix is nearly always
to re-create them from a corrected raw extract.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diab_readmit.contracts import IDENTITY_COLUMNS, LABEL, LABEL_STORE_COLUMNS
from diab_readmit.engine import is_dask_frame
from diab_readmit.errors import UserFixableError

RAW_CODES = ["diag_1", "diag_2", "diag_3"]
NON_NEGATIVE = [
    "time_in_hospital",
    "num_lab_procedures",
    "num_procedures",
    "num_medications",
    "number_outpatient",
    "number_emergency",
    "number_inpatient",
    "number_diagnoses",
]
RANGES = {
    "age_midpoint": (0.0, 100.0),
    **{column: (0.0, np.inf) for column in NON_NEGATIVE},
}
FIX = "Re-create the store from a corrected raw extract: kedro run --pipelines data_processing"


class GoldStoreViolation(UserFixableError, ValueError):
    """Gold data that breaks the store's contract."""


def _per_partition(validator, data):
    """A Dask frame (``DIAB_ENGINE=dask``): columns and types now, every check on every
    partition as the store writes it. Duplicate ids across partitions are excluded before,
    by ``data_processing.dask_engine.collect_order_columns``."""
    validator.validate(data._meta)
    return data.map_partitions(validator.validate, meta=data._meta)


def _where(data: pd.DataFrame, bad: pd.Series) -> str:
    row = data.loc[bad.to_numpy()].iloc[0]
    partition = (
        pd.Timestamp(row["partition_date"]).strftime("%Y-%m-%d")
        if "partition_date" in data
        else "?"
    )
    return f"partition partition_date={partition}, encounter_id {row.get('encounter_id', '?')}"


def _plain(value):
    """numpy scalars print as np.float64(1.0); people want 1.0."""
    return value.item() if hasattr(value, "item") else value


def _require_columns(data: pd.DataFrame, columns: list[str]) -> None:
    missing = [column for column in columns if column not in data.columns]
    if missing:
        raise GoldStoreViolation(f"missing column(s) {missing}. {FIX}")


def _check_identifiers(data: pd.DataFrame) -> None:
    if not pd.api.types.is_integer_dtype(data["encounter_id"]):
        raise GoldStoreViolation(
            f"column 'encounter_id' has type {data['encounter_id'].dtype}, expected integers. {FIX}"
        )
    if not pd.api.types.is_datetime64_any_dtype(data["partition_date"]):
        raise GoldStoreViolation(
            f"column 'partition_date' has type {data['partition_date'].dtype}, expected dates. {FIX}"
        )
    duplicated = data["encounter_id"].duplicated(keep=False)
    if duplicated.any():
        raise GoldStoreViolation(
            f"encounter_id must be unique; {int(duplicated.sum())} rows share ids, first in "
            f"{_where(data, duplicated)}. {FIX}"
        )


class FeatureStoreValidator:
    """Required columns and types, numeric model inputs without gaps, value ranges,
    unique encounter_id."""

    def validate(self, data: pd.DataFrame) -> pd.DataFrame:
        if is_dask_frame(data):
            return _per_partition(self, data)
        _require_columns(data, [*IDENTITY_COLUMNS, *RANGES])
        _check_identifiers(data)
        inputs = data.columns.difference([*IDENTITY_COLUMNS, *RAW_CODES])
        not_numeric = [c for c in inputs if not pd.api.types.is_numeric_dtype(data[c])]
        if not_numeric:
            example = not_numeric[0]
            raise GoldStoreViolation(
                f"model-input column(s) {not_numeric[:5]} are not numeric (e.g. '{example}' "
                f"has type {data[example].dtype}). {FIX}"
            )
        # Column by column: data[inputs].isna() would copy every model input at once.
        column = next((c for c in inputs if data[c].isna().any()), None)
        if column is not None:
            raise GoldStoreViolation(
                f"column '{column}' has missing values ({_where(data, data[column].isna())}); "
                f"model inputs must be complete. {FIX}"
            )
        for column, (low, high) in RANGES.items():
            bad = (data[column] < low) | (data[column] > high)
            if bad.any():
                example = _plain(data.loc[bad.to_numpy(), column].iloc[0])
                raise GoldStoreViolation(
                    f"column '{column}' has {int(bad.sum())} value(s) outside [{low:g}, {high:g}], "
                    f"e.g. {example!r} in {_where(data, bad)}. {FIX}"
                )
        return data


class LabelStoreValidator:
    """encounter_id, partition_date and a 0/1 ``readmitted_30d``; unique encounter_id."""

    def validate(self, data: pd.DataFrame) -> pd.DataFrame:
        if is_dask_frame(data):
            return _per_partition(self, data)
        _require_columns(data, list(LABEL_STORE_COLUMNS))
        _check_identifiers(data)
        bad = ~data[LABEL].isin([0, 1])
        if bad.any():
            example = _plain(data.loc[bad.to_numpy(), LABEL].iloc[0])
            raise GoldStoreViolation(
                f"column '{LABEL}' must be 0 or 1, found {example!r} in {_where(data, bad)} "
                f"({int(bad.sum())} rows). {FIX}"
            )
        return data
