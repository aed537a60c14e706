"""``data_processing`` on the Dask engine: the same functions, the raw file in blocks.

What needs the whole file at once is small: the order of encounter ids (dates, the order
audit), the cohort flag and the labels use five narrow columns, collected once and handed to
the pandas path's own nodes. What is wide — every raw column and the ~150 features — is
never held in one place: the typed blocks are shuffled by ``patient_nbr`` so that each
patient's encounters are in one partition, and ``build_feature_store`` (the pandas node,
history included) runs on each partition. Its rows keep the pandas path's row number as the
index, so the feature store, written month by month, holds the same rows in the same order.
"""

from __future__ import annotations

from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd

from diab_readmit.engine import EngineParams

from .nodes import build_feature_store
from .order_audit import ORDER_KEY, ORDER_SEGMENT, USABLE_AS_PRIOR
from .parameter_models import EncounterDatesParams
from .raw_schema import RawDataError, type_raw_encounters

#: Columns the pandas path's date, audit, cohort and label nodes read.
ORDER_COLUMNS = [
    "encounter_id",
    "patient_nbr",
    "readmitted",
    "discharge_disposition_id",
]
#: What the narrow frame hands back to each patient partition (besides the join keys).
ROW_NUMBER = "_row_number"
_FROM_ORDER = [
    "encounter_date",
    "partition_date",
    ORDER_KEY,
    USABLE_AS_PRIOR,
    ORDER_SEGMENT,
    "in_cohort",
]


def type_raw_blocks(
    raw_blocks: dd.DataFrame, raw_encounters_location: str
) -> dd.DataFrame:
    """``type_raw_encounters`` on every block of the raw file (lazy).

    Args:
        raw_blocks: the raw extract as text, in blocks of the file.
        raw_encounters_location: names the file in error messages.

    Returns:
        The typed ("silver") blocks; nothing is read until a later node computes.
    """
    sample = raw_blocks.head(2, npartitions=1, compute=True)
    meta = type_raw_encounters(sample, source=raw_encounters_location).iloc[:0]
    return raw_blocks.map_partitions(
        type_raw_encounters, source=raw_encounters_location, meta=meta
    )


def collect_order_columns(
    silver_blocks: dd.DataFrame,
    encounter_dates: EncounterDatesParams,
    raw_encounters_location: str,
) -> pd.DataFrame:
    """The narrow columns dates, order audit, cohort and labels are computed from.

    Encounter ids are unique within each block (``type_raw_encounters``); here across them.
    """
    columns = [*ORDER_COLUMNS]
    if (
        encounter_dates.date_column is not None
        and encounter_dates.date_column in silver_blocks.columns
    ):
        columns.append(encounter_dates.date_column)
    narrow = silver_blocks[columns].compute().reset_index(drop=True)
    duplicated = narrow["encounter_id"].duplicated(keep=False)
    if duplicated.any():
        ids = narrow.loc[duplicated, "encounter_id"].drop_duplicates().head(5).tolist()
        raise RawDataError(
            f"{raw_encounters_location}: encounter_id must be unique, but "
            f"{int(duplicated.sum())} rows share ids, e.g. {ids}. Remove the duplicates."
        )
    return narrow


def _features_of_patients(
    silver: pd.DataFrame, order: pd.DataFrame, order_audit: dict[str, Any]
) -> pd.DataFrame:
    """``build_feature_store`` on one partition of whole patients, rows numbered as on the
    pandas path (the encounter's position in encounter_id order)."""
    encounters = silver.merge(
        order, on=["encounter_id", "patient_nbr"], how="inner", validate="one_to_one"
    )
    if len(encounters) != len(silver) or len(encounters) != len(order):
        raise RuntimeError(
            f"A patient partition holds {len(silver)} encounters but {len(order)} order "
            f"rows ({len(encounters)} in common): the two shuffles by patient_nbr disagree."
        )
    encounters = encounters.sort_values(ROW_NUMBER).set_index(ROW_NUMBER)
    gold = build_feature_store(encounters, order_audit)
    gold.index = encounters.index[encounters["in_cohort"].to_numpy()].rename(None)
    return gold


def build_feature_store_by_patient(
    silver_blocks: dd.DataFrame,
    cohort_encounters: pd.DataFrame,
    order_audit_report: dict[str, Any],
    engine: EngineParams,
) -> dd.DataFrame:
    """Gold feature store, one partition of whole patients at a time (lazy).

    Args:
        silver_blocks: the typed raw blocks.
        cohort_encounters: the narrow frame after dates, order audit and cohort flag, in
            encounter_id order (its index is the pandas path's row number).
        order_audit_report: travels with the store, as on the pandas path.
        engine: ``partitions``, the number of patient partitions (0: one per block).

    Returns:
        The feature store as a Dask DataFrame, indexed by the pandas path's row number,
        with the audit report in its meta's ``attrs`` (Dask frames have no attrs).
    """
    partitions = engine.partitions or silver_blocks.npartitions
    order = cohort_encounters[["encounter_id", "patient_nbr", *_FROM_ORDER]].assign(
        **{ROW_NUMBER: np.arange(len(cohort_encounters), dtype=np.int64)}
    )
    silver_by_patient = silver_blocks.shuffle(on="patient_nbr", npartitions=partitions)
    order_by_patient = dd.from_pandas(
        order, npartitions=max(1, min(partitions, len(order)))
    ).shuffle(on="patient_nbr", npartitions=partitions)

    sample = silver_blocks.head(20, npartitions=1, compute=True)
    meta = _features_of_patients(
        sample,
        order[order["encounter_id"].isin(sample["encounter_id"])],
        order_audit_report,
    ).iloc[:0]
    return dd.map_partitions(
        _features_of_patients,
        silver_by_patient,
        order_by_patient,
        order_audit_report,
        meta=meta,
        align_dataframes=False,
    )
