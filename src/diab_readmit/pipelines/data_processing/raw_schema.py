"""The UCI "Diabetes 130-US hospitals" raw format, and how a raw extract is checked and typed."""

from __future__ import annotations

import pandas as pd

from diab_readmit.errors import UserFixableError

MISSING = "?"

ID_COLUMNS = ["encounter_id", "patient_nbr"]
CODE_COLUMNS = ["admission_type_id", "discharge_disposition_id", "admission_source_id"]
COUNT_COLUMNS = [
    "time_in_hospital",
    "num_lab_procedures",
    "num_procedures",
    "num_medications",
    "number_outpatient",
    "number_emergency",
    "number_inpatient",
    "number_diagnoses",
]
DIAGNOSIS_COLUMNS = ["diag_1", "diag_2", "diag_3"]
MEDICATION_COLUMNS = [
    "metformin",
    "repaglinide",
    "nateglinide",
    "chlorpropamide",
    "glimepiride",
    "acetohexamide",
    "glipizide",
    "glyburide",
    "tolbutamide",
    "pioglitazone",
    "rosiglitazone",
    "acarbose",
    "miglitol",
    "troglitazone",
    "tolazamide",
    "examide",
    "citoglipton",
    "insulin",
    "glyburide-metformin",
    "glipizide-metformin",
    "glimepiride-pioglitazone",
    "metformin-rosiglitazone",
    "metformin-pioglitazone",
]
TEXT_COLUMNS = [
    "race",
    "gender",
    "age",
    "weight",
    "payer_code",
    "medical_specialty",
    "max_glu_serum",
    "A1Cresult",
    *MEDICATION_COLUMNS,
    "change",
    "diabetesMed",
]

#: The 50 columns of the published file, in its order.
RAW_COLUMNS = [
    "encounter_id",
    "patient_nbr",
    "race",
    "gender",
    "age",
    "weight",
    "admission_type_id",
    "discharge_disposition_id",
    "admission_source_id",
    "time_in_hospital",
    "payer_code",
    "medical_specialty",
    "num_lab_procedures",
    "num_procedures",
    "num_medications",
    "number_outpatient",
    "number_emergency",
    "number_inpatient",
    "diag_1",
    "diag_2",
    "diag_3",
    "number_diagnoses",
    "max_glu_serum",
    "A1Cresult",
    *MEDICATION_COLUMNS,
    "change",
    "diabetesMed",
    "readmitted",
]

READMITTED_VALUES = ("NO", ">30", "<30")
#: Digits an id or a count may have: every such number fits in int64.
MAX_DIGITS = 18
AGE_PATTERN = r"^\[(\d+)-(\d+)\)$"


class RawDataError(UserFixableError, ValueError):
    """A raw extract that cannot be processed; the message says where and what to do."""


def _line_numbers(mask: pd.Series, limit: int = 3) -> str:
    # +2: one for the header line, one because CSV lines count from 1.
    lines = (mask[mask].index[:limit] + 2).astype(str).tolist()
    return ", ".join(lines)


def _bad_values(
    source: str, column: str, values: pd.Series, bad: pd.Series, expected: str
):
    examples = values[bad].drop_duplicates().head(3).tolist()
    return RawDataError(
        f"{source}: column '{column}' has {int(bad.sum())} value(s) that are not {expected}, "
        f"e.g. {examples!r} (line {_line_numbers(bad)}). Fix or remove those rows, or use "
        f"'{MISSING}' for a missing value where the format allows it."
    )


def type_raw_encounters(
    raw: pd.DataFrame, source: str, outcome_known: bool = True
) -> pd.DataFrame:
    """Check a raw extract against the UCI format and return it typed ("silver").

    ``?`` becomes missing; ids and counts become integers; everything else stays text.
    Raises ``RawDataError`` naming ``source``, the column and example values on: no rows,
    missing columns, duplicate encounter ids, a non-numeric id or count, an unknown
    ``readmitted`` value or a malformed age band.

    With ``outcome_known=False`` (new encounters to score, whose outcome is unknown at
    discharge) ``readmitted`` may be absent or empty; it is then missing in the result.
    """
    if not outcome_known:
        raw = raw.copy() if "readmitted" in raw.columns else raw.assign(readmitted="")
    missing = [column for column in RAW_COLUMNS if column not in raw.columns]
    if missing:
        raise RawDataError(
            f"{source}: missing column(s) {missing}. The file must have the 50 columns of the "
            f"UCI 'Diabetes 130-US hospitals' format (header line as published)."
        )
    if raw.empty:
        raise RawDataError(
            f"{source}: the file has a header but no rows; nothing to process."
        )

    silver = pd.DataFrame(index=raw.index)
    for column in ID_COLUMNS + CODE_COLUMNS + COUNT_COLUMNS:
        text = raw[column].astype("str").str.strip()
        # Plain digits only: "1e3", "12.0" and "-1" are not ids or counts, and more than
        # MAX_DIGITS digits would overflow int64 (99999999999999999999 became -2**63).
        digits = text.str.fullmatch(rf"\d{{1,{MAX_DIGITS}}}")
        allows_missing = column in CODE_COLUMNS
        bad = ~digits & ~(allows_missing & (text == MISSING))
        if bad.any():
            raise _bad_values(
                source,
                column,
                raw[column],
                bad,
                f"non-negative whole numbers written as plain digits (at most {MAX_DIGITS})",
            )
        if allows_missing:
            silver[column] = pd.to_numeric(text.mask(~digits), errors="raise").astype(
                "Int64"
            )
        else:
            silver[column] = text.astype("int64")

    duplicated = silver["encounter_id"].duplicated(keep=False)
    if duplicated.any():
        ids = silver.loc[duplicated, "encounter_id"].drop_duplicates().head(5).tolist()
        raise RawDataError(
            f"{source}: encounter_id must be unique, but {int(duplicated.sum())} rows share "
            f"ids, e.g. {ids} (line {_line_numbers(duplicated)}). Remove the duplicates."
        )

    readmitted = raw["readmitted"].astype("str").str.strip()
    unknown = (readmitted == "") if not outcome_known else pd.Series(False, raw.index)
    bad = ~readmitted.isin(READMITTED_VALUES) & ~unknown
    if bad.any():
        expected = f"one of {READMITTED_VALUES}" + (
            "" if outcome_known else " or empty"
        )
        raise _bad_values(source, "readmitted", raw["readmitted"], bad, expected)
    silver["readmitted"] = readmitted.mask(unknown)

    age = raw["age"].astype("str").str.strip()
    bad = ~age.str.fullmatch(AGE_PATTERN)
    if bad.any():
        raise _bad_values(source, "age", raw["age"], bad, "age bands like '[70-80)'")

    for column in TEXT_COLUMNS + DIAGNOSIS_COLUMNS:
        text = raw[column].astype("str").str.strip()
        silver[column] = text.mask(text == MISSING)
    for column in raw.columns.difference(RAW_COLUMNS):
        silver[column] = raw[column]
    return silver[[*RAW_COLUMNS, *raw.columns.difference(RAW_COLUMNS)]]
