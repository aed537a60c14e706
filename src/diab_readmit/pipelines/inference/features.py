"""New extracts → gold feature rows, by data_processing's own code and with full history.

A new encounter's features are built exactly as the gold store's: the same checks
(``type_raw_encounters``), dates (``assign_encounter_dates``), cohort (``flag_cohort``) and
features (``build_feature_store``, whose history is ``history.patient_history``). Its history
is every earlier encounter the project has seen: the raw file the gold store is built from
(re-dated and re-audited by the same nodes, so the history of every gold row is reproduced
exactly, including stays outside the cohort) and the earlier extracts, in month order.

Dates: with ``encounter_dates.date_column`` the extract's own column; otherwise the month in
the file name (``2009-01.csv``, ``extract_2009-01.csv``), over which the extract's encounters
are spread in encounter_id order, the convention the raw file's dates follow.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from diab_readmit.pipelines.data_processing.nodes import (
    assign_encounter_dates,
    build_feature_store,
    build_silver_encounters,
    flag_cohort,
)
from diab_readmit.pipelines.data_processing.order_audit import (
    ORDER_KEY,
    ORDER_SEGMENT,
    USABLE_AS_PRIOR,
    audit_encounter_order,
    order_keys,
)
from diab_readmit.pipelines.data_processing.parameter_models import (
    CohortParams,
    EncounterDatesParams,
    OrderAuditParams,
)
from diab_readmit.pipelines.data_processing.raw_schema import (
    RawDataError,
    type_raw_encounters,
)

logger = logging.getLogger(__name__)

EXTRACT = "extract"
_MONTH = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?!\d)")


def extract_month(name: str) -> dt.date | None:
    """The first day of the month ``YYYY-MM`` in a file name, or None."""
    match = _MONTH.search(name)
    if match is None or not 1 <= int(match[2]) <= 12:
        return None
    return dt.date(int(match[1]), int(match[2]), 1)


def date_extract(
    raw: pd.DataFrame,
    name: str,
    source: str,
    encounter_dates: EncounterDatesParams,
    month: dt.date | None = None,
) -> pd.DataFrame:
    """One extract checked, typed and dated, with its file name in ``extract``.

    Args:
        raw: the extract as loaded (all text); ``readmitted`` may be absent or empty.
        name: the extract's file name, recorded with every row and prediction.
        source: where it is, for messages.
        encounter_dates: ``date_column`` set: dates from that column; else from ``month``.
        month: the extract's month; None: the ``YYYY-MM`` in ``name``.
    """
    silver = type_raw_encounters(raw, source=source, outcome_known=False)
    if encounter_dates.date_column is None:
        month = month or extract_month(name)
        if month is None:
            raise RawDataError(
                f"{source}: the extract has no encounter dates. Put its month in the file "
                f"name (e.g. new_encounters/2009-01.csv: its encounters are spread over "
                f"January 2009 in encounter_id order), or name its date column in "
                f"encounter_dates.date_column."
            )
        last = calendar.monthrange(month.year, month.month)[1]
        encounter_dates = EncounterDatesParams(
            start_date=month.replace(day=1), end_date=month.replace(day=last)
        )
    dated = assign_encounter_dates(silver, encounter_dates, source)
    return dated.assign(**{EXTRACT: name})


def type_new_extracts(
    new_encounters: Mapping[str, Callable[[], pd.DataFrame]],
    encounter_dates: EncounterDatesParams,
    new_encounters_location: str,
) -> pd.DataFrame:
    """Every extract in ``new_encounters`` dated and typed, in history order (month, name).

    Raises:
        RawDataError: naming the file, for any raw check of data_processing, a missing
            month, or an encounter_id in two extracts.
    """
    extracts = [
        date_extract(
            load(),
            f"{key}.csv",
            f"{new_encounters_location}/{key}.csv",
            encounter_dates,
        )
        for key, load in sorted(new_encounters.items())
    ]
    extracts.sort(key=lambda e: (e["encounter_date"].min(), e[EXTRACT].iloc[0]))
    combined = pd.concat(extracts, ignore_index=True)
    _refuse_shared_ids(combined, combined[EXTRACT], "two extracts")
    logger.info(
        "New encounters: %d extract(s), %d encounters: %s",
        len(extracts),
        len(combined),
        ", ".join(f"{e[EXTRACT].iloc[0]} ({len(e)})" for e in extracts),
    )
    return combined


def _refuse_shared_ids(frame: pd.DataFrame, where: pd.Series, what: str) -> None:
    shared = frame["encounter_id"].duplicated(keep=False)
    if shared.any():
        example = int(frame.loc[shared, "encounter_id"].iloc[0])
        places = sorted(set(where[frame["encounter_id"] == example]))
        raise RawDataError(
            f"encounter_id {example} is in {what} ({', '.join(places)}), and "
            f"{int(shared.sum())} rows share ids in all. An encounter is scored once: "
            f"remove the repeated rows from the later extract."
        )


def build_scoring_features(
    raw_encounters: pd.DataFrame | None,
    new_extracts: pd.DataFrame,
    encounter_dates: EncounterDatesParams,
    order_audit: OrderAuditParams,
    cohort: CohortParams,
    raw_encounters_location: str,
) -> pd.DataFrame:
    """Gold feature rows (the feature store's columns, plus ``extract``) of every new
    encounter in the cohort, with history over the raw file and the earlier extracts.

    Args:
        raw_encounters: the raw file the gold store is built from; None: no earlier history.
        new_extracts: ``type_new_extracts``' output, in history order.
        encounter_dates, order_audit, cohort: data_processing's parameters.
        raw_encounters_location: where the raw file is, for messages.
    """
    known, report = _known_encounters(
        raw_encounters, encounter_dates, order_audit, raw_encounters_location
    )
    return features_with_history(
        known,
        len(known),
        report,
        new_extracts,
        encounter_dates,
        cohort,
        raw_encounters_location,
    )


def features_with_history(
    known: pd.DataFrame,
    known_count: int,
    report: dict[str, Any],
    new_extracts: pd.DataFrame,
    encounter_dates: EncounterDatesParams,
    cohort: CohortParams,
    raw_encounters_location: str,
) -> pd.DataFrame:
    """``build_scoring_features`` once the raw file is dated and audited.

    Args:
        known: the raw file's encounters as ``audit_encounter_order`` returns them — all of
            them, or (Dask engine) at least every encounter of the new encounters' patients.
        known_count: how many encounters the raw file has (new ones are ordered after).
        report: the order audit's report.
    """
    every = pd.concat(
        [known.assign(**{EXTRACT: raw_encounters_location}), new_extracts]
    )
    _refuse_shared_ids(
        every.reset_index(drop=True),
        every[EXTRACT].reset_index(drop=True),
        "the raw file and an extract",
    )
    new = new_extracts.copy()
    if encounter_dates.date_column is None:
        # After every known encounter, in history order: what an id rank is for the raw file.
        new[ORDER_KEY] = known_count + np.arange(len(new), dtype=np.int64)
    else:
        new[ORDER_KEY] = order_keys(new, encounter_dates)
    new[USABLE_AS_PRIOR] = True  # no outcome yet: the audit cannot judge their order
    new[ORDER_SEGMENT] = 0
    # History is per patient: only the patients of the new encounters need features.
    patients = new["patient_nbr"].unique()
    earlier = known[known["patient_nbr"].isin(patients)] if len(known) else known
    encounters = pd.concat([earlier, new.drop(columns=EXTRACT)], ignore_index=True)
    gold = build_feature_store(flag_cohort(encounters, cohort), report)
    names = new.set_index("encounter_id")[EXTRACT]
    rows = gold[gold["encounter_id"].isin(names.index)].reset_index(drop=True)
    rows[EXTRACT] = names.loc[rows["encounter_id"]].to_numpy()
    excluded = len(new) - len(rows)
    if excluded:
        logger.info(
            "Not scored: %d new encounter(s) outside the cohort (discharge dispositions "
            "cohort.exclude_discharge_dispositions: death or hospice)",
            excluded,
        )
    return rows


def _known_encounters(
    raw_encounters: pd.DataFrame | None,
    encounter_dates: EncounterDatesParams,
    order_audit: OrderAuditParams,
    location: str,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The raw file as data_processing dates and audits it, and the audit's report."""
    if raw_encounters is None:
        empty = pd.DataFrame(columns=[ORDER_KEY, USABLE_AS_PRIOR, ORDER_SEGMENT])
        return empty, {"dates_synthesized": encounter_dates.date_column is None}
    silver = build_silver_encounters(raw_encounters, location)
    dated = assign_encounter_dates(silver, encounter_dates, location)
    return audit_encounter_order(dated, order_audit, encounter_dates)
