"""Patient-history features, computed only from each patient's earlier encounters.

"Earlier" means an earlier encounter date, or the same date and a smaller encounter_id
(encounter ids follow admission order in the UCI extract). A feature of an encounter never
changes when any later encounter is added or removed; tests/pipelines/data_processing check
exactly that.

The outcome of an earlier encounter (was it followed by a readmission?) is known by the time
of a later admission: a readmission within 30 days of encounter A is the next admission after
A, so it is the later encounter itself or happened before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Days since the last encounter for a patient's first encounter: "long ago".
NO_PRIOR_DAYS = 3650
RECENT_DAYS = 365
#: Value of a ``hist_prev_*`` / ``hist_max_*`` feature when there is no earlier encounter.
NO_PRIOR_VALUE = -1.0

#: Columns whose value at the patient's previous encounter is a feature (``hist_prev_<c>``).
PREVIOUS_VALUE_COLUMNS = [
    "number_inpatient", "number_emergency", "num_medications", "number_diagnoses",
    "time_in_hospital", "discharge_home", "discharge_snf", "discharge_home_health",
    "diag_any_circulatory", "diabetes_complicated", "insulin_ord",
]  # fmt: skip
#: Columns whose maximum over the patient's earlier encounters is a feature (``hist_max_<c>``).
PRIOR_MAXIMUM_COLUMNS = [
    "number_inpatient", "number_emergency", "num_medications", "number_diagnoses",
    "time_in_hospital",
]  # fmt: skip


def _prior_sum(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """For each row, the sum of ``values`` over the rows of its group that come before it."""
    exclusive = np.cumsum(values) - values
    return exclusive - exclusive[group_start]


def _previous(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Each row's value at the previous row of its group (NO_PRIOR_VALUE for the first)."""
    return np.where(first, NO_PRIOR_VALUE, np.r_[NO_PRIOR_VALUE, values[:-1]])


def _prior_maximum(values: np.ndarray, first: np.ndarray, group_rank: np.ndarray) -> np.ndarray:
    """Each row's maximum of ``values`` over the earlier rows of its group."""
    # Offsetting each group above all earlier ones makes one running maximum restart per group.
    span = float(values.max() - values.min()) + 1.0
    offset = group_rank * span
    running = np.maximum.accumulate(values - values.min() + offset) - offset + values.min()
    return _previous(running, first)


def patient_history(encounters: pd.DataFrame) -> pd.DataFrame:
    """``hist_*`` features for every encounter, aligned to ``encounters``' index.

    ``encounters`` needs patient_nbr, encounter_id, encounter_date, readmitted,
    time_in_hospital and the PREVIOUS_VALUE_COLUMNS / PRIOR_MAXIMUM_COLUMNS.
    """
    patient_nbr = encounters["patient_nbr"]
    days = encounters["encounter_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    patients = patient_nbr.to_numpy(dtype=np.int64)
    readmitted = encounters["readmitted"]
    time_in_hospital = encounters["time_in_hospital"]
    order = np.lexsort((encounters["encounter_id"].to_numpy(dtype=np.int64), days, patients))
    patients, days = patients[order], days[order]
    positions = np.arange(len(order))

    first = np.r_[True, patients[1:] != patients[:-1]]
    group_start = np.maximum.accumulate(np.where(first, positions, 0))

    was_readmitted_30d = (readmitted.to_numpy()[order] == "<30").astype(np.int64)
    was_readmitted_any = (readmitted.to_numpy()[order] != "NO").astype(np.int64)
    stay_days = time_in_hospital.to_numpy(dtype=np.int64)[order]

    # Encounters of the same patient in the RECENT_DAYS before this one: patients are
    # contiguous in `order`, so one searchsorted over (patient, day) keys finds the window.
    patient_rank = np.cumsum(first) - 1
    keys = patient_rank * (1 << 32) + (days - days.min())
    window_start = np.maximum(np.searchsorted(keys, keys - RECENT_DAYS, side="left"), group_start)

    previous_days = np.r_[days[0], days[:-1]]
    days_since_last = np.where(first, NO_PRIOR_DAYS, np.minimum(days - previous_days, NO_PRIOR_DAYS))
    last_readmitted_30d = np.where(first, 0, np.r_[0, was_readmitted_30d[:-1]])

    columns = {}
    for column in PREVIOUS_VALUE_COLUMNS:
        values = encounters[column].to_numpy(dtype=np.float64)[order]
        columns[f"hist_prev_{column}"] = _previous(values, first)
    for column in PRIOR_MAXIMUM_COLUMNS:
        values = encounters[column].to_numpy(dtype=np.float64)[order]
        columns[f"hist_max_{column}"] = _prior_maximum(values, first, patient_rank)
    inpatient = encounters["number_inpatient"].to_numpy(dtype=np.float64)[order]
    previous_inpatient = columns["hist_prev_number_inpatient"]
    columns["hist_inpatient_growth"] = np.where(first, 0.0, inpatient - previous_inpatient)

    history = pd.DataFrame(
        {
            "hist_prior_encounters": positions - group_start,
            "hist_prior_encounters_365d": positions - window_start,
            "hist_prior_readmit_30d": _prior_sum(was_readmitted_30d, group_start),
            "hist_prior_readmit_any": _prior_sum(was_readmitted_any, group_start),
            "hist_last_readmit_30d": last_readmitted_30d,
            "hist_days_since_last": days_since_last,
            "hist_prior_days_in_hospital": _prior_sum(stay_days, group_start),
            **columns,
        }
    ).astype(np.float32)
    # Back to the callers' row order.
    restored = np.empty_like(order)
    restored[order] = positions
    return history.iloc[restored].set_axis(patient_nbr.index)
