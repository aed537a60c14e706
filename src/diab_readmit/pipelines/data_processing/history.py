"""Patient-history features, computed only from earlier encounters whose order is trusted.

What "earlier" means is decided by ``order_audit`` and handed in as two arrays:

- ``order_key``: an encounter is earlier than another of the same patient only if its key is
  strictly smaller. With a real date column the key is the day, so two stays on the same day
  are not each other's history; with synthesized dates it is the position in encounter_id
  order.
- ``usable_as_prior``: False for encounters of an order-unreliable segment (synthesized dates
  only). They never count as anyone's history, so an encounter in such a segment takes
  history only from reliable segments before it, never from its own segment.

A feature of an encounter never changes when any later encounter is added or removed;
tests/pipelines/data_processing check exactly that, and that no history crosses into an
unreliable segment.

The outcome of an earlier encounter (was it followed by a readmission?) is known by the time
of a later admission: a readmission within 30 days of encounter A is the next admission after
A, so it is the later encounter itself or happened before it.

Calendar-gap features (days since the last stay, stays in the last 365 days) need real
dates: ranks spread over a date range are not days. Without ``calendar_days`` they are left
out of the store (``contracts.CALENDAR_HISTORY_FEATURES``).
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
    "number_inpatient",
    "number_emergency",
    "num_medications",
    "number_diagnoses",
    "time_in_hospital",
    "discharge_home",
    "discharge_snf",
    "discharge_home_health",
    "diag_any_circulatory",
    "diabetes_complicated",
    "insulin_ord",
]
#: Columns whose maximum over the patient's earlier encounters is a feature (``hist_max_<c>``).
PRIOR_MAXIMUM_COLUMNS = [
    "number_inpatient",
    "number_emergency",
    "num_medications",
    "number_diagnoses",
    "time_in_hospital",
]


class _PriorRows:
    """Which sorted rows are each row's history, and reductions over them.

    Rows are sorted by (patient, order key). Row ``i``'s history is the usable rows of its
    patient in ``[group_start[i], tie_start[i])``: strictly smaller key, same patient.
    """

    def __init__(
        self, patients: np.ndarray, keys: np.ndarray, usable: np.ndarray
    ) -> None:
        positions = np.arange(len(keys))
        self.first = np.r_[True, patients[1:] != patients[:-1]]
        new_key = self.first | np.r_[True, keys[1:] != keys[:-1]]
        self.group_start = np.maximum.accumulate(np.where(self.first, positions, 0))
        self.tie_start = np.maximum.accumulate(np.where(new_key, positions, 0))
        self.usable = usable
        self.count = self.sum(usable.astype(np.int64))
        self.has_prior = self.count > 0
        # The last usable row before each row's tie block (meaningful where has_prior).
        last_usable = np.maximum.accumulate(np.where(usable, positions, -1))
        self.previous = np.where(
            self.has_prior, last_usable[np.maximum(self.tie_start - 1, 0)], 0
        )
        self.patient_rank = np.cumsum(self.first) - 1

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per row, the sum of ``values`` over its history."""
        exclusive = np.r_[0, np.cumsum(np.where(self.usable, values, 0))]
        return exclusive[self.tie_start] - exclusive[self.group_start]

    def previous_value(self, values: np.ndarray) -> np.ndarray:
        """Per row, ``values`` at its latest history row (NO_PRIOR_VALUE without history)."""
        return np.where(self.has_prior, values[self.previous], NO_PRIOR_VALUE)

    def maximum(self, values: np.ndarray) -> np.ndarray:
        """Per row, the maximum of ``values`` over its history (NO_PRIOR_VALUE without)."""
        low = float(values.min()) if len(values) else 0.0
        span = float(values.max() - low) + 2.0 if len(values) else 2.0
        # Unusable rows sit below every real value; offsetting each patient above all earlier
        # ones makes one running maximum restart per patient.
        lifted = (
            np.where(self.usable, values - low + 1.0, 0.0) + self.patient_rank * span
        )
        running = np.maximum.accumulate(lifted) - self.patient_rank * span + low - 1.0
        return np.where(
            self.has_prior, running[np.maximum(self.tie_start - 1, 0)], NO_PRIOR_VALUE
        )


def patient_history(
    encounters: pd.DataFrame,
    order_key: np.ndarray,
    usable_as_prior: np.ndarray,
    calendar_days: bool,
) -> pd.DataFrame:
    """``hist_*`` features for every encounter, aligned to ``encounters``' index.

    Args:
        encounters: patient_nbr, readmitted, time_in_hospital and the
            PREVIOUS_VALUE_COLUMNS / PRIOR_MAXIMUM_COLUMNS.
        order_key: one int64 per row; only a strictly smaller key of the same patient is
            earlier. Days since an epoch when ``calendar_days``.
        usable_as_prior: one bool per row; False rows are nobody's history.
        calendar_days: whether ``order_key`` is in days, so that calendar-gap features
            (``CALENDAR_FEATURES``) mean something.
    """
    patients = encounters["patient_nbr"].to_numpy(dtype=np.int64)
    keys = np.asarray(order_key, dtype=np.int64)
    order = np.lexsort((keys, patients))
    patients, keys = patients[order], keys[order]
    prior = _PriorRows(patients, keys, np.asarray(usable_as_prior, dtype=bool)[order])

    readmitted = encounters["readmitted"].to_numpy()[order]
    was_readmitted_30d = (readmitted == "<30").astype(np.int64)
    was_readmitted_any = (readmitted != "NO").astype(np.int64)
    stay_days = encounters["time_in_hospital"].to_numpy(dtype=np.int64)[order]

    columns: dict[str, np.ndarray] = {
        "hist_prior_encounters": prior.count,
        "hist_prior_readmit_30d": prior.sum(was_readmitted_30d),
        "hist_prior_readmit_any": prior.sum(was_readmitted_any),
        "hist_last_readmit_30d": np.where(
            prior.has_prior, was_readmitted_30d[prior.previous], 0
        ),
        "hist_prior_days_in_hospital": prior.sum(stay_days),
    }
    if calendar_days:
        last_day = keys[prior.previous]
        columns["hist_days_since_last"] = np.where(
            prior.has_prior, np.minimum(keys - last_day, NO_PRIOR_DAYS), NO_PRIOR_DAYS
        )
        # Usable rows of the same patient with key in [key - RECENT_DAYS, key): patients are
        # contiguous and sorted by key, so one searchsorted over (patient, key) finds the start.
        packed = prior.patient_rank * (1 << 32) + (keys - keys.min())
        window_start = np.maximum(
            np.searchsorted(packed, packed - RECENT_DAYS, side="left"),
            prior.group_start,
        )
        usable_before = np.r_[0, np.cumsum(prior.usable)]
        columns["hist_prior_encounters_365d"] = np.maximum(
            usable_before[prior.tie_start]
            - usable_before[np.minimum(window_start, prior.tie_start)],
            0,
        )
    for column in PREVIOUS_VALUE_COLUMNS:
        values = encounters[column].to_numpy(dtype=np.float64)[order]
        columns[f"hist_prev_{column}"] = prior.previous_value(values)
    for column in PRIOR_MAXIMUM_COLUMNS:
        values = encounters[column].to_numpy(dtype=np.float64)[order]
        columns[f"hist_max_{column}"] = prior.maximum(values)
    inpatient = encounters["number_inpatient"].to_numpy(dtype=np.float64)[order]
    columns["hist_inpatient_growth"] = np.where(
        prior.has_prior, inpatient - columns["hist_prev_number_inpatient"], 0.0
    )

    history = pd.DataFrame(columns).astype(np.float32)
    # Back to the callers' row order.
    restored = np.empty_like(order)
    restored[order] = np.arange(len(order))
    return history.iloc[restored].set_axis(encounters.index)
