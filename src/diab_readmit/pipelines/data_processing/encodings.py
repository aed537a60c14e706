"""Fixed encodings of the UCI categorical columns.

Vocabularies are fixed here, from the published code tables (IDs_mapping.csv) and the
format's documented values, never learned from the data: the same raw row always encodes the
same way, whatever else is in the extract, so encoding cannot leak across windows. Values
outside a vocabulary fall into an ``other`` level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The seed system's engineered scores (../shared/seeds/000_*.txt, seed_baseline.py).
ADMISSION_SEVERITY = {1: 3, 2: 2, 7: 3, 3: 1, 4: 1}
ADMISSION_SOURCE_RISK = {7: 3, 4: 2, 6: 2, 1: 1, 2: 1}
MEDICATION_ORDINAL = {"No": 0, "Down": 1, "Steady": 2, "Up": 3}
GLUCOSE_ORDINAL = {"None": 0, "Norm": 1, ">200": 2, ">300": 3}
A1C_ORDINAL = {"None": 0, "Norm": 1, ">7": 2, ">8": 3}

RACE = {
    "Caucasian": "caucasian",
    "AfricanAmerican": "african_american",
    "Hispanic": "hispanic",
    "Asian": "asian",
    "Other": "other",
}
GENDER = {"Female": "female", "Male": "male"}
ADMISSION_TYPE = {
    1: "emergency",
    2: "urgent",
    3: "elective",
    4: "newborn",
    7: "trauma",
    5: "unknown",
    6: "unknown",
    8: "unknown",
}
DISCHARGE = {
    1: "home",
    6: "home_health",
    8: "home_health",
    3: "snf",
    2: "short_term_hospital",
    22: "rehab",
    4: "long_term_care",
    5: "long_term_care",
    15: "long_term_care",
    23: "long_term_care",
    24: "long_term_care",
    27: "long_term_care",
    28: "psychiatric",
    29: "long_term_care",
    30: "long_term_care",
    7: "left_ama",
    9: "still_inpatient",
    12: "still_inpatient",
    10: "other",
    16: "outpatient",
    17: "outpatient",
    11: "expired",
    19: "expired",
    20: "expired",
    21: "expired",
    13: "hospice",
    14: "hospice",
    18: "unknown",
    25: "unknown",
    26: "unknown",
}
ADMISSION_SOURCE = {
    1: "physician_referral",
    2: "clinic_referral",
    3: "clinic_referral",
    4: "transfer_hospital",
    10: "transfer_hospital",
    22: "transfer_hospital",
    5: "transfer_facility",
    6: "transfer_facility",
    18: "transfer_facility",
    19: "transfer_facility",
    25: "transfer_facility",
    26: "transfer_facility",
    7: "emergency_room",
    8: "court",
    11: "birth",
    12: "birth",
    13: "birth",
    14: "birth",
    23: "birth",
    24: "birth",
    9: "unknown",
    15: "unknown",
    17: "unknown",
    20: "unknown",
    21: "unknown",
}
SPECIALTY = {
    "InternalMedicine": "internal_medicine",
    "Emergency/Trauma": "emergency",
    "Family/GeneralPractice": "general_practice",
    "Cardiology": "cardiology",
    "Surgery-General": "surgery",
    "Surgery-Cardiovascular/Thoracic": "surgery",
    "Surgery-Vascular": "surgery",
    "Surgery-Neuro": "surgery",
    "Surgery-Cardiovascular": "surgery",
    "Surgery-Thoracic": "surgery",
    "Nephrology": "nephrology",
    "Orthopedics": "orthopedics",
    "Orthopedics-Reconstructive": "orthopedics",
    "Radiologist": "radiology",
    "Radiology": "radiology",
    "Pulmonology": "pulmonology",
    "Psychiatry": "psychiatry",
    "Urology": "urology",
    "ObstetricsandGynecology": "obstetrics",
    "Gastroenterology": "gastroenterology",
    "Oncology": "oncology",
    "Hematology/Oncology": "oncology",
    "Hematology": "oncology",
    "PhysicalMedicineandRehabilitation": "rehabilitation",
    "Neurology": "neurology",
    "Pediatrics": "pediatrics",
    "Pediatrics-Endocrinology": "pediatrics",
    "Endocrinology": "endocrinology",
}
PAYER = {
    "MC": "medicare",
    "MD": "medicaid",
    "HM": "hmo",
    "BC": "blue_cross",
    "SP": "self_pay",
    "CP": "commercial",
    "UN": "united",
    "CM": "commercial",
    "OG": "other",
    "PO": "other",
    "DM": "other",
    "CH": "other",
    "WC": "other",
    "OT": "other",
    "MP": "other",
    "SI": "other",
    "FR": "other",
}

# ICD-9-CM chapters by the numeric part of the code; 250.xx (diabetes) is its own group.
ICD9_CHAPTERS = [
    (1, 140, "infectious"),
    (140, 240, "neoplasms"),
    (240, 250, "endocrine"),
    (250, 251, "diabetes"),
    (251, 280, "endocrine"),
    (280, 290, "blood"),
    (290, 320, "mental"),
    (320, 390, "nervous"),
    (390, 460, "circulatory"),
    (460, 520, "respiratory"),
    (520, 580, "digestive"),
    (580, 630, "genitourinary"),
    (630, 680, "pregnancy"),
    (680, 710, "skin"),
    (710, 740, "musculoskeletal"),
    (740, 760, "congenital"),
    (760, 780, "perinatal"),
    (780, 800, "symptoms"),
    (800, 1000, "injury"),
]
DIAGNOSIS_GROUPS = [
    *dict.fromkeys(name for _, _, name in ICD9_CHAPTERS),
    "supplementary",
    "external",
    "missing",
]


def one_hot(
    values: pd.Series, mapping: dict, prefix: str, missing_level: bool = True
) -> pd.DataFrame:
    """One column per level of ``mapping`` (plus ``other`` and, optionally, ``missing``)."""
    levels = list(dict.fromkeys(mapping.values()))
    mapped = values.map(mapping)
    mapped = mapped.where(mapped.notna() | values.isna(), "other")
    if missing_level:
        mapped = mapped.fillna("missing")
    columns = {}
    for level in [
        *levels,
        *(["other"] if "other" not in levels else []),
        *(["missing"] if missing_level else []),
    ]:
        columns[f"{prefix}_{level}"] = (mapped == level).to_numpy(dtype=np.int8)
    return pd.DataFrame(columns, index=values.index)


def diagnosis_group(codes: pd.Series) -> pd.Series:
    """ICD-9 code (``'250.83'``, ``'V57'``, ``'E909'``) → group name from DIAGNOSIS_GROUPS."""
    text = codes.astype("str")
    numbers = pd.to_numeric(text, errors="coerce")
    bins = [low for low, _, _ in ICD9_CHAPTERS] + [ICD9_CHAPTERS[-1][1]]
    labels = [name for _, _, name in ICD9_CHAPTERS]
    chapter = pd.cut(numbers, bins=bins, labels=range(len(labels)), right=False)
    groups = pd.Series(
        np.array(labels, dtype=object)[chapter.cat.codes.to_numpy()], index=codes.index
    )
    groups = groups.where(chapter.notna(), None)
    groups = groups.mask(text.str.startswith("V"), "supplementary")
    groups = groups.mask(text.str.startswith("E"), "external")
    return groups.mask(codes.isna(), "missing").fillna("missing")


def diabetes_detail(codes: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(complicated, uncontrolled) flags of a 250.xy code: x>0 is a complication, y∈{2,3}
    means uncontrolled."""
    text = codes.fillna("").astype("str")
    is_diabetes = text.str.startswith("250")
    fourth = text.str.slice(4, 5)
    fifth = text.str.slice(5, 6)
    complicated = is_diabetes & fourth.isin(list("123456789"))
    uncontrolled = is_diabetes & fifth.isin(["2", "3"])
    return complicated, uncontrolled
