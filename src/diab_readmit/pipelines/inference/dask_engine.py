"""Batch scoring's features on the Dask engine: the raw file in blocks, one partition of
whole patients at a time, ``features_with_history`` (the pandas path's code) on each.

The raw file is dated and audited from its narrow columns, as ``data_processing`` does on
Dask; of its wide rows only the new encounters' patients' are kept, shuffled by patient
together with those patients' new encounters, and every partition gets its features from
``features_with_history``. The rows come back in the pandas path's order, so the scoring
node (``score_new_encounters``, unchanged) sees the same frame.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from diab_readmit.engine import EngineParams
from diab_readmit.pipelines.data_processing.dask_engine import (
    collect_order_columns,
    type_raw_blocks,
)
from diab_readmit.pipelines.data_processing.nodes import assign_encounter_dates
from diab_readmit.pipelines.data_processing.order_audit import (
    ORDER_KEY,
    ORDER_SEGMENT,
    USABLE_AS_PRIOR,
    audit_encounter_order,
)
from diab_readmit.pipelines.data_processing.parameter_models import (
    CohortParams,
    EncounterDatesParams,
    OrderAuditParams,
)

from .features import EXTRACT, _refuse_shared_ids, features_with_history

#: What the narrow, audited raw file hands to its rows of the new encounters' patients.
_DATES_AND_ORDER = [
    "encounter_date",
    "partition_date",
    ORDER_KEY,
    USABLE_AS_PRIOR,
    ORDER_SEGMENT,
]
#: The new encounters' position in ``new_extracts`` (their history order).
_POSITION = "_new_position"


def _patients_features(
    history: pd.DataFrame,
    order: pd.DataFrame,
    new: pd.DataFrame,
    known_count: int,
    report: dict[str, Any],
    encounter_dates: EncounterDatesParams,
    cohort: CohortParams,
    raw_encounters_location: str,
) -> pd.DataFrame | None:
    """``features_with_history`` for the patients of one partition (None: no new rows)."""
    if new.empty:
        return None
    known = history.merge(
        order, on=["encounter_id", "patient_nbr"], how="inner", validate="one_to_one"
    )
    if len(known) != len(history) or len(known) != len(order):
        raise RuntimeError(
            f"A patient partition holds {len(history)} raw encounters but {len(order)} "
            f"order rows: the shuffles by patient_nbr disagree."
        )
    new = new.sort_values(_POSITION)
    rows = features_with_history(
        known.sort_values("encounter_id"),  # the pandas path's order
        known_count,
        report,
        new.drop(columns=_POSITION),
        encounter_dates,
        cohort,
        raw_encounters_location,
    )
    positions = new.set_index("encounter_id")[_POSITION]
    return rows.assign(**{_POSITION: positions.loc[rows["encounter_id"]].to_numpy()})


def build_scoring_features_by_patient(
    raw_encounters_blocks: dd.DataFrame,
    new_extracts: pd.DataFrame,
    encounter_dates: EncounterDatesParams,
    order_audit: OrderAuditParams,
    cohort: CohortParams,
    raw_encounters_location: str,
    engine: EngineParams,
) -> pd.DataFrame:
    """``build_scoring_features`` with the raw file in blocks (``DIAB_ENGINE=dask``).

    Args:
        raw_encounters_blocks: the raw file the gold store is built from, as text blocks.
        new_extracts: ``type_new_extracts``' output, in history order.
        encounter_dates, order_audit, cohort: data_processing's parameters.
        raw_encounters_location: where the raw file is, for messages.
        engine: ``partitions`` / ``partition_rows``: how many patient partitions.

    Returns:
        The same frame as ``build_scoring_features``: gold feature rows of every new
        encounter in the cohort, with ``extract``, in the new extracts' order.
    """
    location = raw_encounters_location
    silver = type_raw_blocks(raw_encounters_blocks, location)
    dated = assign_encounter_dates(
        collect_order_columns(silver, encounter_dates, location),
        encounter_dates,
        location,
    )
    audited, report = audit_encounter_order(dated, order_audit, encounter_dates)
    ids = pd.concat(
        [
            audited[["encounter_id"]].assign(**{EXTRACT: location}),
            new_extracts[["encounter_id", EXTRACT]],
        ],
        ignore_index=True,
    )
    _refuse_shared_ids(ids, ids[EXTRACT], "the raw file and an extract")

    patients = new_extracts["patient_nbr"].unique()
    order = audited.loc[
        audited["patient_nbr"].isin(patients),
        ["encounter_id", "patient_nbr", *_DATES_AND_ORDER],
    ]
    partitions = engine.patient_partitions(
        len(order) + len(new_extracts), silver.npartitions
    )
    history = silver[silver["patient_nbr"].isin(patients)].shuffle(
        on="patient_nbr", npartitions=partitions
    )
    new = new_extracts.assign(**{_POSITION: np.arange(len(new_extracts))})

    def by_patient(frame: pd.DataFrame) -> dd.DataFrame:
        pieces = max(1, min(partitions, len(frame)))
        return dd.from_pandas(frame, npartitions=pieces, sort=False).shuffle(
            on="patient_nbr", npartitions=partitions
        )

    parts = dask.compute(
        *[
            dask.delayed(_patients_features)(
                h,
                o,
                n,
                len(audited),
                report,
                encounter_dates,
                cohort,
                location,
            )
            for h, o, n in zip(
                history.to_delayed(),
                by_patient(order).to_delayed(),
                by_patient(new).to_delayed(),
                strict=True,
            )
        ]
    )
    rows = pd.concat([p for p in parts if p is not None], ignore_index=True)
    return rows.sort_values(_POSITION).drop(columns=_POSITION).reset_index(drop=True)
