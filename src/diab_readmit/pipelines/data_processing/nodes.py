"""raw encounters → silver (typed, dated, cohort flagged) → gold feature and label stores."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from diab_readmit.contracts import IDENTITY_COLUMNS, LABEL

from . import encodings as enc
from .history import patient_history
from .order_audit import ORDER_KEY, USABLE_AS_PRIOR
from .parameter_models import CohortParams, EncounterDatesParams
from .raw_schema import (
    AGE_PATTERN,
    COUNT_COLUMNS,
    DIAGNOSIS_COLUMNS,
    MEDICATION_COLUMNS,
    RawDataError,
    type_raw_encounters,
)

logger = logging.getLogger(__name__)


def build_silver_encounters(
    raw: pd.DataFrame, raw_encounters_location: str
) -> pd.DataFrame:
    """Check the raw extract against the UCI format and type its columns (``?`` → missing)."""
    silver = type_raw_encounters(raw, source=raw_encounters_location)
    logger.info(
        "Raw extract %s: %d encounters, %d patients",
        raw_encounters_location,
        len(silver),
        silver["patient_nbr"].nunique(),
    )
    return silver


def assign_encounter_dates(
    silver: pd.DataFrame,
    encounter_dates: EncounterDatesParams,
    raw_encounters_location: str,
) -> pd.DataFrame:
    """Add ``encounter_date`` and its month, ``partition_date``.

    From the column ``encounter_dates.date_column`` when set; otherwise encounters are spread
    evenly over the configured range in encounter_id order.
    """
    dated = silver.sort_values("encounter_id", kind="stable").reset_index(drop=True)
    column = encounter_dates.date_column
    if column is not None:
        if column not in silver.columns:
            raise RawDataError(
                f"{raw_encounters_location}: parameter encounter_dates.date_column names "
                f"'{column}', which is not a column of the file. Set it to null to spread "
                f"encounters over encounter_dates.start_date..end_date instead."
            )
        parsed = pd.to_datetime(dated[column], errors="coerce", format="mixed")
        bad = parsed.isna()
        if bad.any():
            examples = dated.loc[bad, column].head(3).tolist()
            raise RawDataError(
                f"{raw_encounters_location}: column '{column}' has {int(bad.sum())} value(s) "
                f"that are not dates, e.g. {examples!r}. Use ISO dates (YYYY-MM-DD)."
            )
        dated["encounter_date"] = parsed.dt.normalize().astype("datetime64[ms]")
    else:
        days = pd.date_range(
            encounter_dates.start_date, encounter_dates.end_date, freq="D"
        )
        position = (np.arange(len(dated)) * len(days)) // len(dated)
        dated["encounter_date"] = days[position].astype("datetime64[ms]")
    dated["partition_date"] = (
        dated["encounter_date"]
        .dt.to_period("M")
        .dt.to_timestamp()
        .astype("datetime64[ms]")
    )
    logger.info(
        "Encounter dates %s .. %s over %d monthly partitions",
        dated["encounter_date"].min().date(),
        dated["encounter_date"].max().date(),
        dated["partition_date"].nunique(),
    )
    return dated


def flag_cohort(dated: pd.DataFrame, cohort: CohortParams) -> pd.DataFrame:
    """Add ``in_cohort``: False for encounters whose discharge disposition is excluded."""
    excluded = dated["discharge_disposition_id"].isin(
        cohort.exclude_discharge_dispositions
    )
    excluded = excluded.fillna(False).astype(bool)
    by_code = (
        dated.loc[excluded, "discharge_disposition_id"].value_counts().sort_index()
    )
    logger.info(
        "Cohort: excluding %d of %d encounters by discharge disposition (%s)",
        int(excluded.sum()),
        len(dated),
        ", ".join(f"{int(code)}: {int(count):,}" for code, count in by_code.items())
        or "none",
    )
    return dated.assign(in_cohort=~excluded.to_numpy())


def _seed_features(encounters: pd.DataFrame) -> pd.DataFrame:
    """The seed system's seven engineered numerics."""
    bands = encounters["age"].str.extract(AGE_PATTERN).astype(float)
    severity = encounters["admission_type_id"].map(enc.ADMISSION_SEVERITY).fillna(1)
    visits = encounters[
        ["number_inpatient", "number_emergency", "number_outpatient"]
    ].sum(axis=1)
    stay = encounters["time_in_hospital"].clip(lower=1)
    return pd.DataFrame(
        {
            "age_midpoint": bands.mean(axis=1),
            "admission_severity_score": severity,
            "admission_source_risk_score": encounters["admission_source_id"]
            .map(enc.ADMISSION_SOURCE_RISK)
            .fillna(1),
            "metformin_ord": encounters["metformin"]
            .map(enc.MEDICATION_ORDINAL)
            .fillna(0),
            "insulin_ord": encounters["insulin"].map(enc.MEDICATION_ORDINAL).fillna(0),
            "severity_x_visits": severity * visits,
            "medication_density": encounters["num_medications"] / stay,
        }
    )


def _utilisation(encounters: pd.DataFrame) -> pd.DataFrame:
    counts = encounters[COUNT_COLUMNS].copy()
    counts["total_visits"] = encounters[
        ["number_inpatient", "number_emergency", "number_outpatient"]
    ].sum(axis=1)
    return counts


def _diagnoses(encounters: pd.DataFrame) -> pd.DataFrame:
    """diag_1 one-hot by ICD-9 group, ``diag_any_<group>`` over diag_1..3, diabetes detail."""
    groups = {
        column: enc.diagnosis_group(encounters[column]) for column in DIAGNOSIS_COLUMNS
    }
    columns: dict[str, np.ndarray] = {}
    for group in enc.DIAGNOSIS_GROUPS:
        columns[f"diag1_{group}"] = (groups["diag_1"] == group).to_numpy(np.int8)
    for group in enc.DIAGNOSIS_GROUPS:
        if group == "missing":
            continue
        hits = sum(
            (groups[column] == group).to_numpy(np.int8) for column in DIAGNOSIS_COLUMNS
        )
        columns[f"diag_any_{group}"] = hits.astype(np.int8)
    complicated = uncontrolled = np.zeros(len(encounters), dtype=bool)
    for column in DIAGNOSIS_COLUMNS:
        is_complicated, is_uncontrolled = enc.diabetes_detail(encounters[column])
        complicated = complicated | is_complicated.to_numpy()
        uncontrolled = uncontrolled | is_uncontrolled.to_numpy()
    columns["diabetes_complicated"] = complicated.astype(np.int8)
    columns["diabetes_uncontrolled"] = uncontrolled.astype(np.int8)
    return pd.DataFrame(columns, index=encounters.index)


def _categoricals(encounters: pd.DataFrame) -> pd.DataFrame:
    parts = [
        enc.one_hot(encounters["race"], enc.RACE, "race"),
        enc.one_hot(encounters["gender"], enc.GENDER, "gender", missing_level=False),
        enc.one_hot(
            encounters["admission_type_id"], enc.ADMISSION_TYPE, "admission_type"
        ),
        enc.one_hot(encounters["discharge_disposition_id"], enc.DISCHARGE, "discharge"),
        enc.one_hot(
            encounters["admission_source_id"], enc.ADMISSION_SOURCE, "admission_source"
        ),
        enc.one_hot(encounters["medical_specialty"], enc.SPECIALTY, "specialty"),
        enc.one_hot(encounters["payer_code"], enc.PAYER, "payer"),
    ]
    medications = encounters[MEDICATION_COLUMNS]
    ordinals = {
        f"{name.replace('-', '_')}_ord": medications[name]
        .map(enc.MEDICATION_ORDINAL)
        .fillna(0)
        for name in MEDICATION_COLUMNS
        if name
        not in (
            "metformin",
            "insulin",
        )  # already seed features metformin_ord, insulin_ord
    }
    flags = {
        "max_glu_serum_ord": encounters["max_glu_serum"]
        .map(enc.GLUCOSE_ORDINAL)
        .fillna(0),
        "a1c_ord": encounters["A1Cresult"].map(enc.A1C_ORDINAL).fillna(0),
        "weight_recorded": encounters["weight"].notna(),
        "change_flag": encounters["change"] == "Ch",
        "diabetes_med_flag": encounters["diabetesMed"] == "Yes",
        "medications_changed": medications.isin(["Up", "Down"]).sum(axis=1),
        "medications_active": medications.isin(["Steady", "Up", "Down"]).sum(axis=1),
    }
    parts.append(pd.DataFrame({**ordinals, **flags}, index=encounters.index))
    return pd.concat(parts, axis=1)


def build_feature_store(
    cohort_flagged: pd.DataFrame,
    order_audit: dict[str, Any],
    raw_source: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Gold feature store: identity, raw diagnosis codes, and numeric model inputs.

    History features are computed over every encounter (a patient's earlier stay counts
    even if it is outside the cohort) in the order ``audit_encounter_order`` trusts, then only
    cohort rows are kept. The audit's report and the raw file's provenance (path, sha256,
    demo data or not) travel with the store (``attrs``, written to its manifest), and from
    there into every snapshot and model version.
    """
    gold = gold_features(cohort_flagged, order_audit)
    logger.info(
        "Feature store: %d encounters x %d model-input features",
        len(gold),
        gold.shape[1] - len(IDENTITY_COLUMNS) - len(DIAGNOSIS_COLUMNS),
    )
    gold = gold.reset_index(drop=True)
    gold.attrs["order_audit"] = order_audit
    if raw_source is not None:
        gold.attrs["raw_source"] = raw_source
    return gold


def gold_features(
    cohort_flagged: pd.DataFrame, order_audit: dict[str, Any]
) -> pd.DataFrame:
    """The feature store's rows for ``cohort_flagged``'s cohort encounters, with its index
    (``build_feature_store`` without the log and the attrs; the Dask engine runs it on each
    partition of whole patients)."""
    encounters = cohort_flagged
    current = pd.concat(
        [
            _seed_features(encounters),
            _utilisation(encounters),
            _diagnoses(encounters),
            _categoricals(encounters),
        ],
        axis=1,
    ).astype(np.float32)
    history = patient_history(
        pd.concat([encounters[["patient_nbr", "readmitted"]], current], axis=1),
        order_key=encounters[ORDER_KEY].to_numpy(),
        usable_as_prior=encounters[USABLE_AS_PRIOR].to_numpy(),
        calendar_days=not order_audit["dates_synthesized"],
    )
    features = pd.concat([current, history], axis=1)
    return pd.concat(
        [
            encounters[[*IDENTITY_COLUMNS, *DIAGNOSIS_COLUMNS]].astype(
                {c: "string" for c in DIAGNOSIS_COLUMNS}
            ),
            features,
        ],
        axis=1,
    )[encounters["in_cohort"].to_numpy()]


def build_label_store(cohort_flagged: pd.DataFrame) -> pd.DataFrame:
    """Gold label store: ``readmitted_30d`` is 1 for ``<30``, else 0."""
    cohort = cohort_flagged[cohort_flagged["in_cohort"].to_numpy()]
    labels = pd.DataFrame(
        {
            "encounter_id": cohort["encounter_id"].to_numpy(),
            "partition_date": cohort["partition_date"].to_numpy(),
            LABEL: (cohort["readmitted"] == "<30").to_numpy(np.int8),
        }
    )
    logger.info(
        "Label store: %d encounters, %.2f%% readmitted within 30 days",
        len(labels),
        100 * labels[LABEL].mean(),
    )
    return labels
