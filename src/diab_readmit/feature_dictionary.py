"""What each gold feature means, in words a care manager reads: one home for the
per-patient reasons, the contribution plots and the model card.

Each model input of the gold feature store (``data_processing``) has an entry: a phrase that
states the patient's value (``"3 inpatient stays in the year before"``), a unit and a family
(the model card lists features by family). One-hot, diagnosis-group and medication columns
are generated from the same code tables that build them (``data_processing.encodings``), so
a level added there is described here without a second list to keep in step; a test builds
a gold store and checks that every column has its phrase.

Values are those of the gold store (before scaling): counts, 0/1 flags, ordinal levels,
and for target-encoded diagnosis codes the code's readmission rate in the train window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from diab_readmit.contracts import CALENDAR_HISTORY_FEATURES
from diab_readmit.pipelines.data_processing import encodings as enc
from diab_readmit.pipelines.data_processing.history import (
    NO_PRIOR_VALUE,
    PREVIOUS_VALUE_COLUMNS,
    PRIOR_MAXIMUM_COLUMNS,
)
from diab_readmit.pipelines.data_processing.raw_schema import MEDICATION_COLUMNS

Kind = Literal["count", "number", "flag", "level", "rate"]

FAMILIES = (
    "demographics",
    "admission and discharge",
    "utilisation in the year before",
    "this stay",
    "diagnoses",
    "medications",
    "laboratory results",
    "patient history",
    "payer and specialty",
)


@dataclass(frozen=True)
class FeatureEntry:
    """One gold feature: ``phrase`` with ``{value}`` for counts and numbers; for flags
    ``phrase`` is the present state and ``absent`` the other; for levels ``levels`` maps
    each ordinal value to its phrase."""

    name: str
    phrase: str
    unit: str
    family: str
    kind: Kind
    absent: str = ""
    levels: dict[int, str] = field(default_factory=dict)
    #: A short name of the feature for plot axes and tables (derived from ``phrase`` if
    #: empty).
    title: str = ""

    def describe(self, value: float) -> str:
        """The phrase for this patient's ``value`` (a gold value, not a scaled one)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return f"{self.phrase} (value missing)"
        if self.kind == "flag":
            return self.phrase if value >= 0.5 else self.absent
        if self.kind == "level":
            return self.levels.get(round(value), f"{self.phrase}: level {value:g}")
        if self.kind == "rate":
            return self.phrase.format(value=f"{value:.0%}")
        return self.phrase.format(value=_number(value))


def _number(value: float) -> str:
    rounded = round(float(value), 1)
    return f"{rounded:g}" if rounded != int(rounded) else f"{int(rounded)}"


def _flag(name: str, present: str, family: str, absent: str | None = None):
    return FeatureEntry(
        name, present, "yes/no", family, "flag", absent or f"not {present}"
    )


def _count(name: str, phrase: str, family: str, unit: str = "count"):
    return FeatureEntry(name, phrase, unit, family, "count")


_MEDICATION_LEVELS = {
    0: "not prescribed",
    1: "dose decreased",
    2: "dose steady",
    3: "dose increased",
}


def _medication(column: str) -> FeatureEntry:
    drug = column.replace("-", "/")
    name = f"{column.replace('-', '_')}_ord"
    return FeatureEntry(
        name,
        drug,
        "level (no / down / steady / up)",
        "medications",
        "level",
        levels={level: f"{drug} {text}" for level, text in _MEDICATION_LEVELS.items()},
    )


_UTILISATION = {
    "number_inpatient": "inpatient stays in the year before",
    "number_emergency": "emergency visits in the year before",
    "number_outpatient": "outpatient visits in the year before",
    "total_visits": "inpatient, emergency and outpatient visits in the year before",
}
_THIS_STAY = {
    "time_in_hospital": ("days in hospital", "days"),
    "num_lab_procedures": ("lab tests during the stay", "count"),
    "num_procedures": ("procedures (other than lab tests) during the stay", "count"),
    "num_medications": ("distinct medications given during the stay", "count"),
    "number_diagnoses": ("diagnoses recorded", "count"),
    "medication_density": ("medications per day in hospital", "per day"),
    "medications_changed": ("diabetes medications changed (up or down)", "count"),
    "medications_active": ("diabetes medications prescribed", "count"),
}
_STATIC: list[FeatureEntry] = [
    FeatureEntry(
        "age_midpoint",
        "aged about {value}",
        "years",
        "demographics",
        "number",
        title="age (middle of the 10-year band)",
    ),
    FeatureEntry(
        "admission_severity_score",
        "admission severity score {value} (1 elective ... 3 emergency or trauma)",
        "score 1-3",
        "admission and discharge",
        "number",
        title="admission severity score",
    ),
    FeatureEntry(
        "admission_source_risk_score",
        "admission source risk score {value} (3 = via the emergency room)",
        "score 1-3",
        "admission and discharge",
        "number",
        title="admission source risk score",
    ),
    FeatureEntry(
        "severity_x_visits",
        "admission severity x visits in the year before = {value}",
        "score",
        "utilisation in the year before",
        "number",
        title="admission severity x visits in the year before",
    ),
    FeatureEntry(
        "max_glu_serum_ord",
        "maximum serum glucose",
        "level",
        "laboratory results",
        "level",
        levels={
            0: "serum glucose not measured",
            1: "serum glucose normal",
            2: "serum glucose above 200",
            3: "serum glucose above 300",
        },
    ),
    FeatureEntry(
        "a1c_ord",
        "HbA1c result",
        "level",
        "laboratory results",
        "level",
        levels={
            0: "HbA1c not measured",
            1: "HbA1c normal",
            2: "HbA1c above 7%",
            3: "HbA1c above 8%",
        },
    ),
    _flag("weight_recorded", "weight recorded", "demographics"),
    _flag(
        "change_flag",
        "diabetes medication changed",
        "medications",
        "no change of diabetes medication",
    ),
    _flag(
        "diabetes_med_flag",
        "on diabetes medication",
        "medications",
        "no diabetes medication",
    ),
    _flag("diabetes_complicated", "diabetes with complications", "diagnoses"),
    _flag("diabetes_uncontrolled", "diabetes recorded as uncontrolled", "diagnoses"),
    FeatureEntry(
        "diag_1",
        "primary diagnosis code readmitted {value} of the time in training",
        "readmission rate of the code",
        "diagnoses",
        "rate",
        title="primary diagnosis code (its readmission rate)",
    ),
    FeatureEntry(
        "diag_2",
        "secondary diagnosis code readmitted {value} of the time in training",
        "readmission rate of the code",
        "diagnoses",
        "rate",
        title="secondary diagnosis code (its readmission rate)",
    ),
    FeatureEntry(
        "diag_3",
        "third diagnosis code readmitted {value} of the time in training",
        "readmission rate of the code",
        "diagnoses",
        "rate",
        title="third diagnosis code (its readmission rate)",
    ),
    _count(
        "hist_prior_encounters", "{value} earlier stays on record", "patient history"
    ),
    _count(
        "hist_prior_readmit_30d",
        "{value} earlier stays followed by a readmission within 30 days",
        "patient history",
    ),
    _count(
        "hist_prior_readmit_any",
        "{value} earlier stays followed by any readmission",
        "patient history",
    ),
    _flag(
        "hist_last_readmit_30d",
        "previous stay followed by a readmission within 30 days",
        "patient history",
        "previous stay not followed by a 30-day readmission",
    ),
    _count(
        "hist_prior_days_in_hospital",
        "{value} days in hospital in earlier stays",
        "patient history",
        "days",
    ),
    _count(
        "hist_days_since_last",
        "{value} days since the previous stay",
        "patient history",
        "days",
    ),
    _count(
        "hist_prior_encounters_365d",
        "{value} earlier stays in the 365 days before",
        "patient history",
    ),
    FeatureEntry(
        "hist_inpatient_growth",
        "inpatient stays in the year before changed by {value} since the previous stay",
        "count",
        "patient history",
        "number",
        title="change of inpatient stays in the year before since the previous stay",
    ),
]

#: Readable names of one-hot levels (the rest read well with underscores as spaces).
_LEVEL_NAMES = {
    "snf": "a skilled nursing facility",
    "home_health": "home with home health care",
    "left_ama": "left against medical advice",
    "still_inpatient": "still an inpatient",
    "hmo": "an HMO",
    "african_american": "African American",
    "caucasian": "Caucasian",
    "hispanic": "Hispanic",
    "asian": "Asian",
}
_ONE_HOT = [
    # prefix, code table, family, phrase of the level, has a missing level
    ("race", enc.RACE, "demographics", "race recorded as {level}", True),
    ("gender", enc.GENDER, "demographics", "{level}", False),
    (
        "admission_type",
        enc.ADMISSION_TYPE,
        "admission and discharge",
        "admission type {level}",
        True,
    ),
    (
        "discharge",
        enc.DISCHARGE,
        "admission and discharge",
        "discharged to {level}",
        True,
    ),
    (
        "admission_source",
        enc.ADMISSION_SOURCE,
        "admission and discharge",
        "admitted from {level}",
        True,
    ),
    (
        "specialty",
        enc.SPECIALTY,
        "payer and specialty",
        "admitting specialty {level}",
        True,
    ),
    ("payer", enc.PAYER, "payer and specialty", "payer {level}", True),
]


def _one_hot_entries() -> list[FeatureEntry]:
    entries = []
    for prefix, table, family, template, has_missing in _ONE_HOT:
        levels = [
            *dict.fromkeys(table.values()),
            *(["other"] if "other" not in table.values() else []),
            *(["missing"] if has_missing else []),
        ]
        for level in levels:
            shown = _LEVEL_NAMES.get(level, level.replace("_", " "))
            if level == "missing":
                phrase = f"{prefix.replace('_', ' ')} not recorded"
            else:
                phrase = template.format(level=shown)
            entries.append(_flag(f"{prefix}_{level}", phrase, family))
    return entries


def _diagnosis_entries() -> list[FeatureEntry]:
    entries = []
    for group in enc.DIAGNOSIS_GROUPS:
        shown = group.replace("_", " ")
        entries.append(
            _flag(f"diag1_{group}", f"primary diagnosis: {shown}", "diagnoses")
            if group != "missing"
            else _flag("diag1_missing", "primary diagnosis not recorded", "diagnoses")
        )
    for group in enc.DIAGNOSIS_GROUPS:
        if group != "missing":
            entries.append(
                FeatureEntry(
                    f"diag_any_{group}",
                    f"{{value}} of the 3 diagnoses {shown_group(group)}",
                    "count",
                    "diagnoses",
                    "count",
                    title=f"diagnoses {shown_group(group).removeprefix('are ')}",
                )
            )
    return entries


def shown_group(group: str) -> str:
    """``circulatory`` -> ``circulatory``; supplementary/external codes read as V/E codes."""
    return {
        "supplementary": "are supplementary (V) codes",
        "external": "are external-cause (E) codes",
    }.get(group, f"in the {group.replace('_', ' ')} group")


def _history_entries(base: dict[str, FeatureEntry]) -> list[FeatureEntry]:
    entries = []
    for prefix, columns, words in (
        ("hist_prev_", PREVIOUS_VALUE_COLUMNS, "at the previous stay"),
        ("hist_max_", PRIOR_MAXIMUM_COLUMNS, "most over earlier stays"),
    ):
        for column in columns:
            entries.append(_earlier(prefix + column, base[column], words))
    return entries


@dataclass(frozen=True)
class _EarlierEntry(FeatureEntry):
    """A value of an earlier stay: ``NO_PRIOR_VALUE`` means there was none."""

    of: FeatureEntry | None = None
    words: str = ""

    def describe(self, value: float) -> str:
        if value is not None and value == NO_PRIOR_VALUE:
            return "no earlier stay on record"
        return f"{self.words}: {self.of.describe(value)}"


def _earlier(name: str, of: FeatureEntry, words: str) -> FeatureEntry:
    return _EarlierEntry(
        name,
        f"{words}: {of.phrase}",
        of.unit,
        "patient history",
        of.kind,
        of=of,
        words=words,
    )


def _build() -> dict[str, FeatureEntry]:
    entries = [
        *_STATIC,
        *(
            _count(name, f"{{value}} {words}", "utilisation in the year before")
            for name, words in _UTILISATION.items()
        ),
        *(
            _count(name, f"{{value}} {words}", "this stay", unit)
            for name, (words, unit) in _THIS_STAY.items()
        ),
        *_one_hot_entries(),
        *_diagnosis_entries(),
        *(_medication(c) for c in MEDICATION_COLUMNS),
    ]
    table = {entry.name: entry for entry in entries}
    table.update({entry.name: entry for entry in _history_entries(table)})
    missing_calendar = set(CALENDAR_HISTORY_FEATURES) - set(table)
    if missing_calendar:  # the contract names features this table must describe
        raise RuntimeError(f"feature_dictionary lacks {sorted(missing_calendar)}")
    return table


#: Gold feature name -> its entry.
FEATURE_DICTIONARY: dict[str, FeatureEntry] = _build()


def entry(name: str) -> FeatureEntry:
    """The entry of ``name``; a column the dictionary does not know (a test's made-up
    feature, a column added to the store but not here) reads as its own name, so a reason
    is never lost, and the dictionary test fails for real gold columns."""
    known = FEATURE_DICTIONARY.get(name)
    if known is not None:
        return known
    return FeatureEntry(
        name, f"{name.replace('_', ' ')} = {{value}}", "", "other", "number"
    )


def describe(name: str, value: float) -> str:
    """The phrase of feature ``name`` at the gold value ``value``."""
    return entry(name).describe(value)


def label(name: str) -> str:
    """A short label of the feature itself, for plot axes and the model card."""
    known = entry(name)
    if known.title:
        return known.title
    text = (
        known.phrase.replace("{value} ", "")
        .replace(" {value}", "")
        .replace("{value}", "#")
    )
    if isinstance(known, _EarlierEntry):
        text = f"{known.words}: {known.of.phrase.replace('{value} ', '')}"
    return text


def families(names: list[str]) -> dict[str, list[str]]:
    """``names`` grouped by family, families in FAMILIES order (``other`` last)."""
    grouped: dict[str, list[str]] = {family: [] for family in (*FAMILIES, "other")}
    for name in names:
        grouped[entry(name).family].append(name)
    return {family: members for family, members in grouped.items() if members}
