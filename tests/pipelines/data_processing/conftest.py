"""Small hand-made raw extracts in the UCI format."""

from __future__ import annotations

import pandas as pd
import pytest

from diab_readmit.pipelines.data_processing.raw_schema import (
    MEDICATION_COLUMNS,
    RAW_COLUMNS,
)

TEMPLATE = {
    "race": "Caucasian",
    "gender": "Female",
    "age": "[70-80)",
    "weight": "?",
    "admission_type_id": "1",
    "discharge_disposition_id": "1",
    "admission_source_id": "7",
    "time_in_hospital": "3",
    "payer_code": "MC",
    "medical_specialty": "?",
    "num_lab_procedures": "41",
    "num_procedures": "0",
    "num_medications": "12",
    "number_outpatient": "0",
    "number_emergency": "0",
    "number_inpatient": "1",
    "diag_1": "428",
    "diag_2": "250.83",
    "diag_3": "V57",
    "number_diagnoses": "9",
    "max_glu_serum": "None",
    "A1Cresult": ">8",
    **{m: "No" for m in MEDICATION_COLUMNS},
    "change": "No",
    "diabetesMed": "Yes",
    "readmitted": "NO",
}


def make_raw(rows: list[dict]) -> pd.DataFrame:
    """A raw extract (all text, as the catalog loads it) from per-row overrides."""
    records = []
    for number, overrides in enumerate(rows):
        record = {
            "encounter_id": str(1000 + number),
            "patient_nbr": str(500 + number),
            **TEMPLATE,
        }
        record.update({k: str(v) for k, v in overrides.items()})
        records.append(record)
    return pd.DataFrame(records, columns=RAW_COLUMNS)


@pytest.fixture
def raw_factory():
    return make_raw
