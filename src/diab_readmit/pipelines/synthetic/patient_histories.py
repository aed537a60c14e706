"""Simulated patients: a hidden frailty, a chain of encounters each, and who is readmitted.

The generator simulates people, not rows. Each patient gets a frailty (standard normal,
never written out) and a first admission somewhere in the ten years of the file. For each
encounter the clinical features that drive readmission are drawn (age band, admission,
length of stay, discharge disposition, diagnoses, A1C, insulin), then the ``readmitted``
label from the planted model below, then whether the patient comes back within the file:
usually after ``<30`` or ``>30``, almost never after ``NO``, never after death or hospice.
A ``<30`` readmission comes back within 30 days of discharge, a ``>30`` one later, and
encounters that would fall after the end of 2008 are cut off, as in the real extract.

That reproduces the structure of the real file: most patients appear once and frail ones
many times, later encounters follow ``<30`` readmissions more often, and a patient's earlier
encounters say something about the next one. The frailty itself is only seen through its
traces (earlier encounters, inpatient and emergency visits, discharge disposition), so a
model can learn a good part of the signal but not all of it.

Everything is vectorised over patients; the only loop runs over the encounter number (the
first encounter of every patient, then the second of those who came back, ...).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, logit

from . import uci_marginals as uci
from .sampling import FrequencyTable

#: Days from 1999-01-01 to 2008-12-31, the span of the real extract.
HORIZON_DAYS = 3652.0
#: Cap on one patient's chain; the real file's most frequent patient has 40 encounters.
MAX_ENCOUNTERS_PER_PATIENT = 60
#: Patients per encounter in the simulation (the real file has 71,518 / 101,766 = 0.70);
#: sizes the batch of patients simulated for a requested number of encounters.
PATIENTS_PER_ENCOUNTER = 0.70

#: Codes of the ``readmitted`` label in the simulation, and their values in the file.
NO, OVER_30, UNDER_30 = 0, 1, 2
READMITTED_VALUES = np.array(["NO", ">30", "<30"])

#: Discharge dispositions after which nobody can be readmitted: death and hospice.
DEATH_OR_HOSPICE = (11, 13, 14, 19, 20, 21)

# --- Tables the encounter features are drawn from -------------------------------------

AGE_BANDS = FrequencyTable(uci.AGE)  # in increasing order: code i is [10i-10i+10)
ADMISSION_SOURCE = FrequencyTable(uci.ADMISSION_SOURCE)
SOURCE_GROUPS = ("er", "referral", "transfer", "other")
ADMISSION_TYPE_BY_SOURCE_GROUP = tuple(
    FrequencyTable(uci.ADMISSION_TYPE_BY_SOURCE_GROUP[group]) for group in SOURCE_GROUPS
)
_SOURCE_GROUP_OF_ID = {7: 0, 1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2, 10: 2, 22: 2, 25: 2}
SOURCE_GROUP_OF_CODE = np.array(
    [_SOURCE_GROUP_OF_ID.get(int(source), 3) for source in ADMISSION_SOURCE.values],
    dtype=np.int8,
)
TIME_IN_HOSPITAL = FrequencyTable(uci.TIME_IN_HOSPITAL)
NUMBER_DIAGNOSES = FrequencyTable(uci.NUMBER_DIAGNOSES)

# Dispositions from least to most severe, so that frail and old patients, drawn with a
# higher latent, are discharged to care facilities, hospice or die more often.
_DISCHARGE_SEVERITY_ORDER = (
    1,
    7,
    6,
    8,
    18,
    25,
    16,
    17,
    12,
    15,
    9,
    10,
    24,
    27,
    2,
    28,
    5,
    4,
    23,
    22,
    3,
    13,
    14,
    11,
    19,
    20,
    21,
)
DISCHARGE = FrequencyTable(
    {d: uci.DISCHARGE_DISPOSITION.get(d, 0) for d in _DISCHARGE_SEVERITY_ORDER}
)

ICD9_CODES = tuple(code for code, *_ in uci.ICD9_CODES)
#: Code of a missing diagnosis ("?"): one past the last ICD-9 code.
MISSING_DIAGNOSIS = len(ICD9_CODES)
DIAGNOSES = tuple(
    FrequencyTable({code: weights[position] for code, *weights in uci.ICD9_CODES})
    for position in range(3)
)

A1C = FrequencyTable(uci.A1C_RESULT)
INSULIN_VALUES = ("No", "Steady", "Up", "Down")
INSULIN = FrequencyTable(
    {v: sum(row[v] for row in uci.INSULIN_BY_A1C.values()) for v in INSULIN_VALUES}
)
INSULIN_BY_A1C = tuple(
    FrequencyTable({v: uci.INSULIN_BY_A1C[str(a1c)][v] for v in INSULIN_VALUES})
    for a1c in A1C.values
)
_A1C_HIGH = np.isin(A1C.values, [">8"])
_A1C_NORMAL = np.isin(A1C.values, ["Norm"])
_INSULIN_ADJUSTED = np.isin(np.asarray(INSULIN_VALUES), ["Up", "Down"])

# How often a patient's encounter repeats the patient's usual value instead of a fresh
# draw (both from the same table, so the marginal is unchanged). Matched to how often a
# patient's consecutive encounters agree in the real file.
STICKY_ADMISSION_SOURCE = 0.68
STICKY_PRIMARY_DIAGNOSIS = 0.15
STICKY_INSULIN = 0.57


def _icd9_flags(codes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Diagnosis groups of each code (Strack et al. 2014 groups, plus a few finer ones).

    One entry per code and a trailing ``False`` for a missing diagnosis.
    """
    numeric = np.array(
        [math.nan if code[0] in "VE" else float(code) for code in codes] + [math.nan]
    )
    whole = np.floor(numeric)

    def between(low: float, high: float) -> np.ndarray:
        return (numeric >= low) & (numeric < high)

    diabetes = whole == 250
    # 250.0x is diabetes without complication; 250.1x-250.9x name one (ketoacidosis,
    # renal, neurological, ...).
    complication_digit = np.array(
        [int(code[4]) if code.startswith("250.") else 0 for code in codes] + [0]
    )
    return {
        "circulatory": between(390, 460) | (whole == 785),
        "heart_failure": whole == 428,
        "respiratory": between(460, 520) | (whole == 786),
        "digestive": between(520, 580) | (whole == 787),
        "diabetes": diabetes & (complication_digit == 0),
        "diabetes_complicated": diabetes & (complication_digit > 0),
        "injury": between(800, 1000),
        "musculoskeletal": between(710, 740),
        "genitourinary": between(580, 630) | (whole == 788),
        "neoplasm": between(140, 240),
        "renal": np.isin(whole, [403, 404, 584, 585, 586]),
    }


ICD9_FLAGS = _icd9_flags(ICD9_CODES)

# --- The planted readmission model -----------------------------------------------------
# log-odds of `<30`, and of `>30` among encounters that are not `<30`. The intercepts,
# the return probabilities and the gaps were calibrated so that the whole file has the real
# shares of `<30` (11.2%) and `>30` (34.9%) and about 1.42 encounters per patient.

UNDER_30_INTERCEPT = -3.254
OVER_30_INTERCEPT = -0.810
FRAILTY_UNDER_30 = 0.60
#: A `<30` readmission makes the next one more likely beyond what frailty explains
#: (the discharge plan failed once), and so do earlier ones.
PREVIOUS_UNDER_30 = 0.25
EARLIER_UNDER_30 = 0.10
FRAILTY_OVER_30 = 0.65
#: Noise in the log-odds that no feature explains: keeps the signal far from perfect.
UNDER_30_NOISE = 0.55

#: Extra log-odds of `<30` by discharge disposition (home, 1, is the reference).
DISCHARGE_UNDER_30 = {
    2: 0.45,
    3: 0.35,
    4: 0.30,
    5: 0.60,
    6: 0.20,
    7: 0.55,
    8: 0.30,
    15: 0.30,
    18: 0.25,
    22: 0.85,
    23: -0.10,
    24: 0.30,
    28: 1.10,
}
#: Extra log-odds of `>30`: home health care brings patients back, facilities keep them.
DISCHARGE_OVER_30 = {6: 0.30, 3: -0.05, 22: -0.20, 2: -0.10, 5: -0.20}
#: Extra log-odds of `<30` by age band [0-10) .. [90-100): children rarely come back,
#: young adults (often type 1, ketoacidosis) and the old more often.
AGE_UNDER_30 = np.array([-1.2, -0.5, 0.35, 0.10, 0.0, -0.05, 0.05, 0.15, 0.15, 0.0])
AGE_OVER_30 = np.array([-0.9, -0.2, 0.0, 0.0, 0.0, 0.0, 0.05, 0.10, 0.10, -0.25])
#: Extra log-odds of `<30` by the group of the primary diagnosis (diag_1).
PRIMARY_DIAGNOSIS_UNDER_30 = {
    "circulatory": 0.15,
    "heart_failure": 0.25,
    "respiratory": 0.20,
    "digestive": 0.05,
    "diabetes": -0.05,
    "diabetes_complicated": 0.35,
    "injury": -0.15,
    "musculoskeletal": -0.40,
    "genitourinary": 0.10,
    "neoplasm": 0.45,
}
#: Extra log-odds of `<30` when a secondary diagnosis (diag_2 or diag_3) is in the group.
SECONDARY_DIAGNOSIS_UNDER_30 = {
    "renal": 0.25,
    "heart_failure": 0.15,
    "diabetes_complicated": 0.10,
    "neoplasm": 0.20,
}

#: Log-odds of coming back within the file after each label, before the utilisation term.
RETURN_LOGIT = {NO: float(logit(0.009)), OVER_30: 0.45, UNDER_30: 0.85}
#: How much more a patient uses hospitals than others (correlated with frailty): frequent
#: users come back after `>30` readmissions more often and make the long chains.
UTILISATION_FRAILTY_CORRELATION = 0.5
UTILISATION_OVER_30 = 0.3
UTILISATION_RETURN = 0.6


# Loadings of the latents behind length of stay, number of diagnoses and discharge
# disposition on (frailty, age, [length-of-stay latent,] noise).
LOS_LOADINGS = np.array([0.35, 0.12, 0.93])
DIAGNOSES_LOADINGS = np.array([0.25, 0.25, 0.15, 0.92])
DISCHARGE_LOADINGS = np.array([0.40, 0.35, 0.15, 0.83])
#: Mean and standard deviation of each latent over all encounters. Frail patients have
#: more encounters and patients age between them, so over encounters the raw latents are
#: shifted; centring them with these (measured on 2,000,000 simulated encounters) keeps
#: each column's marginal close to the real one.
LATENT_MOMENTS = {
    "los": (0.078, 1.003),
    "diagnoses": (0.069, 1.017),
    "discharge": (0.115, 1.028),
}


def _standardised(name: str, latent: np.ndarray) -> np.ndarray:
    mean, sd = LATENT_MOMENTS[name]
    return (latent - mean) / sd


def _lookup(effects: dict, keys: np.ndarray, size: int) -> np.ndarray:
    table = np.zeros(size)
    for key, effect in effects.items():
        table[key] = effect
    return table[keys]


def _diagnosis_effect(effects: dict[str, float], diagnosis: np.ndarray) -> np.ndarray:
    total = np.zeros(len(diagnosis))
    for group, effect in effects.items():
        total += effect * ICD9_FLAGS[group][diagnosis]
    return total


def _draw_encounters(
    rng: np.random.Generator,
    patients: dict[str, np.ndarray],
    active: np.ndarray,
    admission: np.ndarray,
) -> dict[str, np.ndarray]:
    """The clinical features of one encounter for each patient in ``active``."""
    size = len(active)
    frailty = patients["frailty"][active]
    years_since_first = (admission - patients["first_admission"][active]) / 365.25
    age = np.minimum(patients["age_at_first"][active] + years_since_first, 99.99)
    age_band = (age // 10).astype(np.int8)
    age_z = (age - 65.0) / 16.0
    noise = rng.standard_normal((3, size))

    source = np.where(
        rng.random(size) < STICKY_ADMISSION_SOURCE,
        patients["usual_admission_source"][active],
        ADMISSION_SOURCE.draw(rng, size),
    )
    group = SOURCE_GROUP_OF_CODE[source]
    type_uniform = rng.random(size)
    admission_type = np.empty(size, dtype=np.int16)
    for index, table in enumerate(ADMISSION_TYPE_BY_SOURCE_GROUP):
        in_group = group == index
        admission_type[in_group] = table.values[table.codes_at(type_uniform[in_group])]

    # Frail and old patients stay longer, have more diagnoses and go home less often.
    los_latent = _standardised(
        "los", LOS_LOADINGS @ np.stack([frailty, age_z, noise[0]])
    )
    time_in_hospital = TIME_IN_HOSPITAL.values[
        TIME_IN_HOSPITAL.codes_at_normal(los_latent)
    ]
    time_in_hospital = time_in_hospital.astype(np.int16)
    diagnoses_latent = _standardised(
        "diagnoses",
        DIAGNOSES_LOADINGS @ np.stack([frailty, age_z, los_latent, noise[1]]),
    )
    number_diagnoses = NUMBER_DIAGNOSES.values[
        NUMBER_DIAGNOSES.codes_at_normal(diagnoses_latent)
    ]
    number_diagnoses = number_diagnoses.astype(np.int16)
    discharge_latent = _standardised(
        "discharge",
        DISCHARGE_LOADINGS @ np.stack([frailty, age_z, los_latent, noise[2]]),
    )
    discharge = DISCHARGE.values[DISCHARGE.codes_at_normal(discharge_latent)].astype(
        np.int16
    )

    primary = np.where(
        rng.random(size) < STICKY_PRIMARY_DIAGNOSIS,
        patients["usual_primary_diagnosis"][active],
        DIAGNOSES[0].draw(rng, size),
    )
    diagnoses = [primary, DIAGNOSES[1].draw(rng, size), DIAGNOSES[2].draw(rng, size)]
    for position, extra in enumerate(uci.DIAGNOSIS_MISSING_EXTRA):
        # An encounter with one diagnosis has "?" in diag_2 and diag_3, with two in diag_3.
        missing = (number_diagnoses <= position) | (rng.random(size) < extra)
        diagnoses[position] = np.where(missing, MISSING_DIAGNOSIS, diagnoses[position])

    a1c = A1C.draw(rng, size)
    insulin_uniform = rng.random(size)
    insulin = np.empty(size, dtype=np.int8)
    for index, table in enumerate(INSULIN_BY_A1C):
        with_result = a1c == index
        insulin[with_result] = table.codes_at(insulin_uniform[with_result])
    insulin = np.where(
        rng.random(size) < STICKY_INSULIN, patients["usual_insulin"][active], insulin
    )
    return {
        "patient": active.astype(np.int32),
        "admission": admission,
        "age_band": age_band,
        "admission_source": source,
        "admission_type": admission_type,
        "los_latent": los_latent.astype(np.float32),
        "time_in_hospital": time_in_hospital,
        "number_diagnoses": number_diagnoses,
        "discharge_disposition": discharge,
        "diag_1": diagnoses[0].astype(np.int16),
        "diag_2": diagnoses[1].astype(np.int16),
        "diag_3": diagnoses[2].astype(np.int16),
        "a1c": a1c,
        "insulin": insulin,
    }


def _draw_readmission(
    rng: np.random.Generator,
    encounters: dict[str, np.ndarray],
    frailty: np.ndarray,
    utilisation: np.ndarray,
    earlier_under_30: np.ndarray,
    previous_label: np.ndarray,
    number: int | np.ndarray,
) -> np.ndarray:
    """The planted model: `<30` / `>30` / `NO` for each encounter of this step."""
    size = len(frailty)
    discharge = encounters["discharge_disposition"]
    age_band = encounters["age_band"]
    los = encounters["time_in_hospital"]
    primary, secondary = (
        encounters["diag_1"],
        (encounters["diag_2"], encounters["diag_3"]),
    )
    a1c_high = _A1C_HIGH[encounters["a1c"]]
    insulin_adjusted = _INSULIN_ADJUSTED[encounters["insulin"]]
    to_facility = np.isin(discharge, [3, 4, 5, 22, 23])

    under_30 = (
        UNDER_30_INTERCEPT
        + FRAILTY_UNDER_30 * frailty
        + PREVIOUS_UNDER_30 * (previous_label == UNDER_30)
        + EARLIER_UNDER_30 * np.minimum(earlier_under_30, 4)
        + _lookup(DISCHARGE_UNDER_30, discharge, 31)
        + AGE_UNDER_30[age_band]
        + _diagnosis_effect(PRIMARY_DIAGNOSIS_UNDER_30, primary)
        + 0.06 * (np.minimum(los, 12) - 4)
        + 0.20 * insulin_adjusted
        - 0.10 * _A1C_NORMAL[encounters["a1c"]]
        # An out-of-control A1C that nobody acted on comes back; one that was acted on less.
        + np.where(a1c_high, np.where(insulin_adjusted, -0.30, 0.30), 0.0)
        # Interactions a linear model on one-hot features cannot represent exactly.
        + 0.50 * frailty * to_facility
        + 0.60 * (ICD9_FLAGS["circulatory"][primary] & (age_band >= 7) & (los >= 6))
        + 0.80 * (ICD9_FLAGS["diabetes_complicated"][primary] & (age_band <= 3))
        # Sent home the day after an emergency admission: discharged too early.
        + 0.50 * ((los == 1) & (encounters["admission_type"] == 1))
        + UNDER_30_NOISE * rng.standard_normal(size)
    )
    for group, effect in SECONDARY_DIAGNOSIS_UNDER_30.items():
        flags = ICD9_FLAGS[group]
        under_30 += effect * (flags[secondary[0]] | flags[secondary[1]])

    over_30 = (
        OVER_30_INTERCEPT
        + FRAILTY_OVER_30 * frailty
        + UTILISATION_OVER_30 * utilisation
        + 0.20 * np.minimum(number, 3)
        + 0.25 * (previous_label >= OVER_30)
        + _lookup(DISCHARGE_OVER_30, discharge, 31)
        + AGE_OVER_30[age_band]
        + 0.04 * (encounters["number_diagnoses"].clip(max=9) - 7)
        + 0.40 * rng.standard_normal(size)
    )
    p_under_30 = expit(under_30)
    p_over_30 = (1.0 - p_under_30) * expit(over_30)
    u = rng.random(size)
    label = np.where(
        u < p_under_30, UNDER_30, np.where(u < p_under_30 + p_over_30, OVER_30, NO)
    )
    return np.where(np.isin(discharge, DEATH_OR_HOSPICE), NO, label).astype(np.int8)


def _next_admission(
    rng: np.random.Generator,
    label: np.ndarray,
    encounters: dict[str, np.ndarray],
    utilisation: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each patient comes back, and when (days since 1999-01-01; may be after the
    end of the file, which the caller cuts off)."""
    size = len(label)
    return_logit = np.select(
        [label == UNDER_30, label == OVER_30],
        [RETURN_LOGIT[UNDER_30], RETURN_LOGIT[OVER_30]],
        RETURN_LOGIT[NO],
    )
    comes_back = rng.random(size) < expit(
        return_logit + UTILISATION_RETURN * utilisation
    )
    comes_back &= ~np.isin(encounters["discharge_disposition"], DEATH_OR_HOSPICE)
    # Days from discharge to the next admission: `<30` within 1-29 days, most within two
    # weeks; `>30` from a month to a few years; a `NO` that still comes back, years later.
    days_after_discharge = np.select(
        [label == UNDER_30, label == OVER_30],
        [1 + np.floor(29 * rng.beta(1.0, 2.2, size)), 31 + rng.gamma(1.1, 320.0, size)],
        365 + rng.gamma(1.2, 500.0, size),
    )
    discharge_day = encounters["admission"] + encounters["time_in_hospital"]
    return comes_back, discharge_day + days_after_discharge


def simulate_patients(
    rng: np.random.Generator, n_patients: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Simulate ``n_patients`` patients from their first encounter to the end of 2008.

    Returns per-patient arrays (``frailty``, ...) and per-encounter arrays (``patient``
    indexes the former, ``number`` counts a patient's encounters from 0, ``admission`` is
    in days since 1999-01-01, ``readmitted`` holds `NO`/`>30`/`<30` codes), encounters
    grouped by ``number``. Per patient, ``pending_admission`` is the day of the admission
    that falls after the end of the file (inf if the patient does not come back), and
    ``earlier_under_30`` / ``previous_label`` the state the next encounter starts from:
    what ``simulate_next_month`` continues.
    """
    patients = new_patients(rng, n_patients, first_day=0.0, days=HORIZON_DAYS)
    earlier_under_30 = np.zeros(n_patients, dtype=np.int16)
    pending_admission = np.full(n_patients, np.inf)
    previous_label = np.full(n_patients, -1, dtype=np.int8)
    next_admission = patients["first_admission"].copy()
    active = np.arange(n_patients)
    steps = []
    for number in range(MAX_ENCOUNTERS_PER_PATIENT):
        if active.size == 0:
            break
        frailty, utilisation = (
            patients["frailty"][active],
            patients["utilisation"][active],
        )
        encounters = _draw_encounters(rng, patients, active, next_admission[active])
        label = _draw_readmission(
            rng,
            encounters,
            frailty,
            utilisation,
            earlier_under_30[active],
            previous_label[active],
            number,
        )
        returns, admission_after = _next_admission(rng, label, encounters, utilisation)
        comes_back = returns & (admission_after < HORIZON_DAYS)
        after_the_file = returns & ~comes_back
        pending_admission[active[after_the_file]] = admission_after[after_the_file]
        encounters["readmitted"] = label
        encounters["number"] = np.full(active.size, number, dtype=np.int16)
        steps.append(encounters)
        earlier_under_30[active] += label == UNDER_30
        previous_label[active] = label
        next_admission[active] = admission_after
        active = active[comes_back]
    patients["pending_admission"] = pending_admission
    patients["earlier_under_30"] = earlier_under_30
    patients["previous_label"] = previous_label
    return patients, _concatenate(steps)


def new_patients(
    rng: np.random.Generator, n_patients: int, first_day: float, days: float
) -> dict[str, np.ndarray]:
    """Patients whose first admission falls in ``first_day`` .. ``first_day + days``."""
    age_band = AGE_BANDS.draw(rng, n_patients)
    frailty = rng.standard_normal(n_patients)
    return {
        "frailty": frailty,
        "utilisation": UTILISATION_FRAILTY_CORRELATION * frailty
        + math.sqrt(1 - UTILISATION_FRAILTY_CORRELATION**2)
        * rng.standard_normal(n_patients),
        "first_admission": first_day + rng.random(n_patients) * days,
        "age_at_first": 10.0 * age_band + 10.0 * rng.random(n_patients),
        "usual_admission_source": ADMISSION_SOURCE.draw(rng, n_patients),
        "usual_primary_diagnosis": DIAGNOSES[0].draw(rng, n_patients),
        "usual_insulin": INSULIN.draw(rng, n_patients),
    }


def _concatenate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def simulate_encounters(
    rng: np.random.Generator, n_encounters: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Exactly ``n_encounters`` simulated encounters, in order of admission.

    Patients are simulated in batches until there are enough encounters; whole patients
    are kept in the order they were simulated and the last one is cut short (its latest
    encounters dropped) so the total is exact. Patients are re-numbered 0.. in that order.
    """
    patient_batches, encounter_batches, simulated, total = [], [], 0, 0
    while total < n_encounters:
        missing = n_encounters - total
        n_patients = max(1_000, math.ceil(missing * PATIENTS_PER_ENCOUNTER * 1.05))
        patients, encounters = simulate_patients(rng, n_patients)
        encounters["patient"] = encounters["patient"] + simulated
        patient_batches.append(patients)
        encounter_batches.append(encounters)
        simulated += n_patients
        total += len(encounters["patient"])
    patients = _concatenate(patient_batches)
    encounters = _concatenate(encounter_batches)

    per_patient = np.bincount(encounters["patient"], minlength=simulated)
    cumulative = np.cumsum(per_patient)
    last = int(np.searchsorted(cumulative, n_encounters))
    allowed = per_patient.copy()
    allowed[last] -= cumulative[last] - n_encounters
    allowed[last + 1 :] = 0
    keep = encounters["number"] < allowed[encounters["patient"]]
    patients = {name: values[: last + 1] for name, values in patients.items()}
    if allowed[last] < per_patient[last]:
        # Cut short: its next encounter is one of those dropped, not one after the file.
        patients["pending_admission"][last] = np.inf
    patients["encounters"] = allowed[: last + 1].astype(np.int16)
    order = np.argsort(encounters["admission"][keep], kind="stable")
    encounters = {name: values[keep][order] for name, values in encounters.items()}
    return patients, encounters


def simulate_next_month(
    rng: np.random.Generator, patients: dict[str, np.ndarray], days: float = 31.0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The encounters of the ``days`` after the end of the file, in the same world.

    The file's patients whose next admission falls in that month come back (with their
    frailty, age and readmission history), and new patients arrive at the file's rate of
    first admissions. ``patients`` is what ``simulate_encounters`` returned.

    Returns:
        The file's patients followed by the new ones (``patient`` indexes these), and the
        month's encounters in order of admission, labels drawn by the planted model.
    """
    start = HORIZON_DAYS
    pending = patients["pending_admission"]
    returning = np.flatnonzero((pending >= start) & (pending < start + days))
    n_known = len(patients["frailty"])
    fresh = new_patients(
        rng, int(rng.poisson(n_known * days / HORIZON_DAYS)), start, days
    )
    everyone = {name: np.concatenate([patients[name], fresh[name]]) for name in fresh}
    n_fresh = len(fresh["frailty"])
    active = np.concatenate([returning, n_known + np.arange(n_fresh)])
    admission = np.concatenate([pending[returning], fresh["first_admission"]])
    order = np.argsort(admission, kind="stable")
    active, admission = active[order], admission[order]
    encounters = _draw_encounters(rng, everyone, active, admission)
    known = active < n_known
    state = np.where(known, active, 0)
    encounters["readmitted"] = _draw_readmission(
        rng,
        encounters,
        everyone["frailty"][active],
        everyone["utilisation"][active],
        np.where(known, patients["earlier_under_30"][state], 0),
        np.where(known, patients["previous_label"][state], -1),
        np.where(known, patients["encounters"][state], 0),
    )
    encounters["number"] = np.where(known, patients["encounters"][state], 0).astype(
        np.int16
    )
    return everyone, encounters
