"""``data_processing`` on the Dask engine: the same functions, the raw file in blocks.

What needs the whole file at once is small: the order of encounter ids (dates, the order
audit), the cohort flag and the labels use five narrow columns, collected once and handed to
the pandas path's own nodes. What is wide — every raw column and the ~150 features — is
never held in one place: the typed blocks are shuffled by ``patient_nbr`` so that each
patient's encounters are in one partition (what the narrow nodes computed reaches each
worker once, as an ``OrderLookup``), and the pandas node's feature code
(``nodes.gold_features``, history included) runs on each partition. Its rows keep the
pandas path's row number as the index, so the feature store, written month by month, holds
the same rows in the same order.
"""

from __future__ import annotations

import logging
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import default_client

from diab_readmit.contracts import IDENTITY_COLUMNS
from diab_readmit.engine import EngineParams

from .nodes import gold_features
from .order_audit import ORDER_KEY, ORDER_SEGMENT, USABLE_AS_PRIOR
from .parameter_models import EncounterDatesParams
from .raw_schema import DIAGNOSIS_COLUMNS, RawDataError, type_raw_encounters

logger = logging.getLogger(__name__)

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


class OrderLookup:
    """The narrow frame's per-encounter results, compact, for every patient partition.

    ``cohort_encounters`` is in encounter_id order and its row number is the pandas path's
    row number, so a sorted array of encounter ids finds both an encounter's row and what
    the date, audit and cohort nodes computed for it. One copy goes to each worker
    (``Client.scatter``, ~32 bytes per encounter) instead of a second shuffle of the narrow
    frame through the task graph.
    """

    def __init__(self, cohort_encounters: pd.DataFrame, source: str) -> None:
        self.source = source
        ids = cohort_encounters["encounter_id"].to_numpy(dtype=np.int64)
        if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
            raise RuntimeError(
                "cohort_encounters must be in strictly increasing id order"
            )
        self.encounter_ids = ids
        self.patients = cohort_encounters["patient_nbr"].to_numpy(dtype=np.int64)
        self.days = {
            column: cohort_encounters[column].to_numpy(dtype="datetime64[D]")
            for column in ("encounter_date", "partition_date")
        }
        self.order_key = _narrowest_int(cohort_encounters[ORDER_KEY].to_numpy())
        self.usable_as_prior = cohort_encounters[USABLE_AS_PRIOR].to_numpy(dtype=bool)
        self.order_segment = _narrowest_int(cohort_encounters[ORDER_SEGMENT].to_numpy())
        self.in_cohort = cohort_encounters["in_cohort"].to_numpy(dtype=bool)
        self.dtypes = cohort_encounters.dtypes[_FROM_ORDER].to_dict()

    def rows_of(self, silver: pd.DataFrame) -> pd.DataFrame:
        """``silver`` in row-number order, indexed by row number, with the narrow results."""
        ids = silver["encounter_id"].to_numpy(dtype=np.int64)
        rows = np.searchsorted(self.encounter_ids, ids).clip(
            0, len(self.encounter_ids) - 1
        )
        unknown = (self.encounter_ids[rows] != ids) | (
            self.patients[rows] != silver["patient_nbr"].to_numpy(dtype=np.int64)
        )
        if unknown.any():
            raise RawDataError(
                f"{self.source}: {int(unknown.sum())} encounter(s), e.g. encounter_id "
                f"{int(ids[unknown][0])}, differ between the file's two reads (id or "
                f"patient_nbr): the file changed while the run read it. Run "
                f"data_processing again once nothing writes to it."
            )
        ordered = np.argsort(rows, kind="stable")
        rows = rows[ordered]
        encounters = silver.iloc[ordered].set_axis(pd.Index(rows, name=ROW_NUMBER))
        computed = {
            **{column: days[rows] for column, days in self.days.items()},
            ORDER_KEY: self.order_key[rows],
            USABLE_AS_PRIOR: self.usable_as_prior[rows],
            ORDER_SEGMENT: self.order_segment[rows],
            "in_cohort": self.in_cohort[rows],
        }
        return encounters.assign(
            **{
                column: pd.Series(computed[column], index=encounters.index).astype(
                    self.dtypes[column]
                )
                for column in _FROM_ORDER
            }
        )


def _narrowest_int(values: np.ndarray) -> np.ndarray:
    if len(values) and values.min() >= 0 and values.max() < 2**31:
        return values.astype(np.int32)
    return values


def _features_of_patients(
    silver: pd.DataFrame, lookup: OrderLookup, order_audit: dict[str, Any]
) -> pd.DataFrame:
    """The pandas path's feature code (``nodes.gold_features``) on one partition of whole
    patients, rows numbered as on the pandas path (the encounter's position in encounter_id
    order)."""
    encounters = lookup.rows_of(silver)
    gold = gold_features(encounters, order_audit)
    gold.index = encounters.index[encounters["in_cohort"].to_numpy()].rename(None)
    return gold


def build_feature_store_by_patient(
    silver_blocks: dd.DataFrame,
    cohort_encounters: pd.DataFrame,
    order_audit_report: dict[str, Any],
    engine: EngineParams,
    raw_encounters_location: str,
    raw_source: dict[str, Any] | None = None,
) -> dd.DataFrame:
    """Gold feature store, one partition of whole patients at a time (lazy).

    Args:
        silver_blocks: the typed raw blocks.
        cohort_encounters: the narrow frame after dates, order audit and cohort flag, in
            encounter_id order (its index is the pandas path's row number).
        order_audit_report: travels with the store, as on the pandas path.
        engine: ``partitions`` / ``partition_rows``: how many patient partitions.
        raw_encounters_location: names the file in error messages.
        raw_source: ``raw_encounters_provenance``, travels with the store as the audit does.

    Returns:
        The feature store as a Dask DataFrame, indexed by the pandas path's row number,
        with the audit report in its meta's ``attrs`` (Dask frames have no attrs).
    """
    partitions = engine.patient_partitions(
        len(cohort_encounters), silver_blocks.npartitions
    )
    lookup = OrderLookup(cohort_encounters, raw_encounters_location)
    sample = silver_blocks.head(20, npartitions=1, compute=True)
    meta = _features_of_patients(sample, lookup, order_audit_report).iloc[:0]
    meta.attrs["order_audit"] = order_audit_report
    if raw_source is not None:
        meta.attrs["raw_source"] = raw_source
    logger.info(
        "Feature store: %d cohort encounters x %d model-input features, in %d partitions "
        "of whole patients",
        int(cohort_encounters["in_cohort"].sum()),
        meta.shape[1] - len(IDENTITY_COLUMNS) - len(DIAGNOSIS_COLUMNS),
        partitions,
    )
    silver_by_patient = silver_blocks.shuffle(on="patient_nbr", npartitions=partitions)
    return silver_by_patient.map_partitions(
        _features_of_patients,
        _on_every_worker(lookup),
        order_audit_report,
        meta=meta,
    )


def _on_every_worker(lookup: OrderLookup) -> Any:
    """One copy of ``lookup`` per worker of the run's client; without a distributed client
    (Dask's local schedulers, in tests) one task of the graph holds it."""
    try:
        client = default_client()
    except ValueError:
        return dask.delayed(lookup, pure=True)
    return client.scatter(lookup, broadcast=True, hash=False)
