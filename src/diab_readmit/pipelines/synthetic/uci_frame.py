"""Encounters in the exact UCI raw format, drawn around the simulated patients and stays."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from diab_readmit.pipelines.data_processing.raw_schema import RAW_COLUMNS

from . import uci_marginals as uci
from .patient_histories import (
    A1C,
    ADMISSION_SOURCE,
    AGE_BANDS,
    ICD9_CODES,
    ICD9_FLAGS,
    INSULIN_VALUES,
    READMITTED_VALUES,
)
from .sampling import FrequencyTable

#: The 50 columns of the published file, in its order (data_processing checks them).
UCI_COLUMNS = tuple(RAW_COLUMNS)

RACE = FrequencyTable(uci.RACE)
GENDER = FrequencyTable(uci.GENDER)
WEIGHT = FrequencyTable(uci.WEIGHT)
PAYER_CODE = FrequencyTable(uci.PAYER_CODE)
MEDICAL_SPECIALTY = FrequencyTable(uci.MEDICAL_SPECIALTY)
MAX_GLU_SERUM = FrequencyTable(uci.MAX_GLU_SERUM)
NUM_LAB_PROCEDURES = FrequencyTable(uci.NUM_LAB_PROCEDURES)
NUM_PROCEDURES = FrequencyTable(uci.NUM_PROCEDURES)
NUM_MEDICATIONS = FrequencyTable(uci.NUM_MEDICATIONS)
NUMBER_OUTPATIENT = FrequencyTable(uci.NUMBER_OUTPATIENT)
NUMBER_EMERGENCY = FrequencyTable(uci.NUMBER_EMERGENCY)
NUMBER_INPATIENT = FrequencyTable(uci.NUMBER_INPATIENT)
#: Every medication column takes its values in this order (insulin included).
MEDICATION_VALUES = INSULIN_VALUES
MEDICATIONS = {
    name: FrequencyTable(
        {"No": 100_000 - steady - up - down, "Steady": steady, "Up": up, "Down": down}
    )
    for name, (steady, up, down) in uci.MEDICATIONS.items()
}
DIAGNOSIS_VALUES = (*ICD9_CODES, "?")

# How often a patient's encounter repeats the patient's usual value rather than a fresh
# draw from the same table; matched to how often consecutive encounters of one patient
# agree in the real file (payer 85%, specialty 70%, metformin 85%, weight 99.5%).
STICKY_PAYER = 0.89
STICKY_SPECIALTY = 0.765
STICKY_WEIGHT = 0.997
STICKY_METFORMIN = 0.74

#: Ids are spread over about the real ranges whatever the size (the published file has
#: encounter ids 12522..443867222 and patient numbers 135..189502619).
ENCOUNTER_ID_SPAN = 440_000_000
PATIENT_NBR_SPAN = 189_000_000
FIRST_ENCOUNTER_ID = 12_522


def _categorical(codes: np.ndarray, values) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=list(values))


def _sticky(
    rng: np.random.Generator,
    table: FrequencyTable,
    usual: np.ndarray,
    stickiness: float,
) -> np.ndarray:
    """Each row's usual code with probability ``stickiness``, else a fresh draw."""
    fresh = table.draw(rng, len(usual))
    return np.where(rng.random(len(usual)) < stickiness, usual, fresh)


def earlier_encounters_within_a_year(
    patient: np.ndarray, admission: np.ndarray
) -> np.ndarray:
    """How many of the same patient's encounters began in the 365 days before each one."""
    # One sorted key per encounter: patient first, then admission day. Admission days are
    # below 3,652, so a window of 365 days never reaches into the previous patient's keys.
    key = patient.astype(np.float64) * 10_000.0 + admission
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    counts = np.empty(len(key), dtype=np.int64)
    counts[order] = np.arange(len(key)) - np.searchsorted(
        sorted_key, sorted_key - 365.0
    )
    return counts


def increasing_ids(
    rng: np.random.Generator, size: int, span: int, start: int
) -> np.ndarray:
    """``size`` strictly increasing ids with random gaps, spread over about ``span``."""
    mean_gap = max(1, span // size)
    return start + np.cumsum(rng.integers(1, 2 * mean_gap, size, endpoint=True))


PatientValues = Callable[[str, FrequencyTable], np.ndarray]


def uci_frame(
    rng: np.random.Generator,
    encounters: dict[str, np.ndarray],
    patients: dict[str, np.ndarray],
    patient_nbr: np.ndarray,
    earlier_within_a_year: np.ndarray,
    usual: PatientValues,
    encounter_ids: Callable[[int], np.ndarray],
) -> pd.DataFrame:
    """The 50 UCI columns of simulated ``encounters``, one row each, in their order.

    Args:
        rng: the generator every value not given here is drawn from.
        encounters: what ``simulate_encounters`` (or ``simulate_next_month``) returned;
            ``patient`` indexes ``patients`` and ``patient_nbr``.
        patients: per-patient arrays (``frailty``, ``utilisation``).
        patient_nbr: the published patient number of each patient.
        earlier_within_a_year: per encounter, the patient's encounters in the 365 days
            before it (the file's own and any earlier ones).
        usual: ``usual(column, table)``, the per-patient codes a patient usually has in a
            column (race, gender, weight, payer, specialty, metformin); called in that order.
        encounter_ids: ``encounter_ids(n)``, the ``n`` increasing encounter ids to give.
    """
    n = len(encounters["patient"])
    patient = encounters["patient"]
    frailty = patients["frailty"][patient]
    utilisation = patients["utilisation"][patient]
    race = usual("race", RACE)[patient]
    gender = usual("gender", GENDER)[patient]
    weight = _sticky(rng, WEIGHT, usual("weight", WEIGHT)[patient], STICKY_WEIGHT)
    payer = _sticky(
        rng, PAYER_CODE, usual("payer_code", PAYER_CODE)[patient], STICKY_PAYER
    )
    specialty = _sticky(
        rng,
        MEDICAL_SPECIALTY,
        usual("medical_specialty", MEDICAL_SPECIALTY)[patient],
        STICKY_SPECIALTY,
    )

    # Utilisation in the year before the encounter grows with frailty and counts the
    # patient's own earlier stays, so a model sees frailty through these counts.
    earlier = np.log1p(earlier_within_a_year)
    inpatient = NUMBER_INPATIENT.codes_by_rank(
        0.5 * frailty + 1.1 * earlier + 0.7 * rng.standard_normal(n)
    )
    emergency = NUMBER_EMERGENCY.codes_by_rank(
        0.45 * utilisation + 0.5 * earlier + 0.9 * rng.standard_normal(n)
    )
    outpatient = NUMBER_OUTPATIENT.codes_by_rank(
        0.4 * utilisation + 0.35 * earlier + rng.standard_normal(n)
    )
    # Longer stays get more labs and drugs; surgical diagnoses more procedures.
    los_latent = encounters["los_latent"].astype(np.float64)
    primary = encounters["diag_1"]
    surgical = (
        ICD9_FLAGS["musculoskeletal"][primary]
        | ICD9_FLAGS["injury"][primary]
        | ICD9_FLAGS["circulatory"][primary]
    )
    lab_procedures = NUM_LAB_PROCEDURES.codes_by_rank(
        0.3 * los_latent + 0.95 * rng.standard_normal(n)
    )
    procedures_latent = 0.15 * los_latent + 0.6 * surgical + rng.standard_normal(n)
    procedures = NUM_PROCEDURES.codes_by_rank(procedures_latent)
    medications_count = NUM_MEDICATIONS.codes_by_rank(
        0.45 * los_latent
        + 0.3 * procedures_latent
        + 0.15 * frailty
        + 0.8 * rng.standard_normal(n)
    )

    medications = {}
    for name, table in MEDICATIONS.items():
        if name == "insulin":
            medications[name] = encounters["insulin"]
        elif name == "metformin":
            usual_metformin = usual(name, table)[patient]
            medications[name] = _sticky(rng, table, usual_metformin, STICKY_METFORMIN)
        else:
            medications[name] = table.draw(rng, n)
    codes = np.stack(list(medications.values()))
    on_medication = (codes != 0).any(axis=0)  # code 0 is "No"
    dose_changed = (codes >= 2).any(axis=0)  # codes 2, 3 are "Up", "Down"
    switched = on_medication & (rng.random(n) < uci.CHANGE_WITHOUT_DOSE_CHANGE)
    change = (dose_changed | switched).astype(np.int8)

    columns = {
        "encounter_id": encounter_ids(n),
        "patient_nbr": patient_nbr[patient],
        "race": _categorical(race, RACE.values),
        "gender": _categorical(gender, GENDER.values),
        "age": _categorical(encounters["age_band"], AGE_BANDS.values),
        "weight": _categorical(weight, WEIGHT.values),
        "admission_type_id": encounters["admission_type"].astype(np.int64),
        "discharge_disposition_id": encounters["discharge_disposition"].astype(
            np.int64
        ),
        "admission_source_id": ADMISSION_SOURCE.values[encounters["admission_source"]],
        "time_in_hospital": encounters["time_in_hospital"].astype(np.int64),
        "payer_code": _categorical(payer, PAYER_CODE.values),
        "medical_specialty": _categorical(specialty, MEDICAL_SPECIALTY.values),
        "num_lab_procedures": NUM_LAB_PROCEDURES.values[lab_procedures],
        "num_procedures": NUM_PROCEDURES.values[procedures],
        "num_medications": NUM_MEDICATIONS.values[medications_count],
        "number_outpatient": NUMBER_OUTPATIENT.values[outpatient],
        "number_emergency": NUMBER_EMERGENCY.values[emergency],
        "number_inpatient": NUMBER_INPATIENT.values[inpatient],
        "diag_1": _categorical(encounters["diag_1"], DIAGNOSIS_VALUES),
        "diag_2": _categorical(encounters["diag_2"], DIAGNOSIS_VALUES),
        "diag_3": _categorical(encounters["diag_3"], DIAGNOSIS_VALUES),
        "number_diagnoses": encounters["number_diagnoses"].astype(np.int64),
        "max_glu_serum": _categorical(MAX_GLU_SERUM.draw(rng, n), MAX_GLU_SERUM.values),
        "A1Cresult": _categorical(encounters["a1c"], A1C.values),
        **{
            name: _categorical(values, MEDICATION_VALUES)
            for name, values in medications.items()
        },
        "change": _categorical(change, ["No", "Ch"]),
        "diabetesMed": _categorical(on_medication.astype(np.int8), ["No", "Yes"]),
        "readmitted": _categorical(encounters["readmitted"], READMITTED_VALUES),
    }
    return pd.DataFrame(columns, columns=list(UCI_COLUMNS))


def scramble_final_ids(
    frame: pd.DataFrame, share: float, rng: np.random.Generator
) -> pd.DataFrame:
    """New ids, in random order, for the last ``share`` of encounters, as in the UCI file.

    There the last ~10% of encounter ids jump to a different scheme (from ~311M to ~444M) and
    no longer follow admission order within a patient. Rows stay sorted by encounter_id, so
    the scrambled encounters end up shuffled among themselves at the end of the file.
    """
    start = len(frame) - round(share * len(frame))
    tail = frame.iloc[start:].sample(frac=1.0, random_state=rng).reset_index(drop=True)
    jump = (
        int(frame["encounter_id"].iloc[start - 1]) + 100_000_000
        if start
        else FIRST_ENCOUNTER_ID
    )
    tail["encounter_id"] = increasing_ids(rng, len(tail), ENCOUNTER_ID_SPAN, jump)
    return pd.concat([frame.iloc[:start], tail], ignore_index=True)
