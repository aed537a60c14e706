"""The demo's next monthly extract: January 2009, the same simulated world, a planted drift.

A hospital sends a new extract each month; the demo makes the first one after the raw file
by continuing the simulation: patients of the file whose next admission falls in January
2009 come back (their earlier stays are in the file, so their history features are real),
and new patients arrive at the file's rate. ``readmitted`` is empty: at discharge nobody
knows it yet. Then ``synthetic.next_month`` plants a drift a monitor must catch: an older
age mix and more admissions through the emergency room.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .parameter_models import NextMonthDrift, SyntheticParams
from .patient_histories import simulate_next_month
from .uci_frame import (
    ENCOUNTER_ID_SPAN,
    PATIENT_NBR_SPAN,
    earlier_encounters_within_a_year,
    increasing_ids,
    uci_frame,
)

#: The month of the extract, the first after the file's 1999-2008.
NEXT_MONTH = "2009-01"
#: Seeds the extract's own random stream, so the raw file stays as it was byte for byte.
_NEXT_MONTH_STREAM = 200901
#: admission_source_id of "Emergency Room" (IDs_mapping.csv of the UCI file).
EMERGENCY_ROOM = 7


def _ids_after(rng: np.random.Generator, size: int, gap: int, last: int) -> np.ndarray:
    """``size`` increasing ids above ``last``, ``gap`` apart on average (as in the file)."""
    if size == 0:
        return np.empty(0, dtype=np.int64)
    return increasing_ids(rng, size, max(1, gap) * size, last)


def next_month_extract(
    frame: pd.DataFrame,
    patients: dict[str, np.ndarray],
    encounters: dict[str, np.ndarray],
    usual: dict[str, np.ndarray],
    synthetic: SyntheticParams,
) -> pd.DataFrame:
    """The encounters of January 2009 in the UCI format, with the planted drift.

    Args:
        frame: the raw file ``generate_encounters`` made from the same simulation.
        patients, encounters, usual: that simulation's patients (with ``patient_nbr``),
            encounters and usual per-patient column codes.
        synthetic: the seed and ``next_month``'s drift.

    Returns:
        The 50 UCI columns, ``readmitted`` empty, encounter ids above the file's.
    """
    rng = np.random.default_rng([synthetic.seed, _NEXT_MONTH_STREAM])
    everyone, month = simulate_next_month(rng, patients)
    n_known = len(patients["frailty"])
    n_fresh = len(everyone["frailty"]) - n_known
    patient_nbr = np.concatenate(
        [
            patients["patient_nbr"],
            _ids_after(
                rng,
                n_fresh,
                PATIENT_NBR_SPAN // n_known,
                int(frame["patient_nbr"].max()),
            ),
        ]
    )
    earlier = earlier_encounters_within_a_year(
        np.concatenate([encounters["patient"], month["patient"]]),
        np.concatenate([encounters["admission"], month["admission"]]),
    )[len(encounters["patient"]) :]
    extract = uci_frame(
        rng,
        month,
        everyone,
        patient_nbr,
        earlier,
        lambda column, table: np.concatenate([usual[column], table.draw(rng, n_fresh)]),
        lambda size: _ids_after(
            rng, size, ENCOUNTER_ID_SPAN // len(frame), int(frame["encounter_id"].max())
        ),
    )
    extract = plant_drift(extract, synthetic.next_month, rng)
    extract["readmitted"] = ""
    return extract


def plant_drift(
    extract: pd.DataFrame, drift: NextMonthDrift, rng: np.random.Generator
) -> pd.DataFrame:
    """Move ``drift.older_share`` of the encounters one age band up, and admit
    ``drift.emergency_room_share`` of them through the emergency room."""
    older = rng.random(len(extract)) < drift.older_share
    age = extract["age"]
    codes = age.cat.codes.to_numpy()
    last_band = len(age.cat.categories) - 1
    shifted = np.where(older, np.minimum(codes + 1, last_band), codes)
    through_emergency = rng.random(len(extract)) < drift.emergency_room_share
    return extract.assign(
        age=pd.Categorical.from_codes(shifted, categories=age.cat.categories),
        admission_source_id=np.where(
            through_emergency, EMERGENCY_ROOM, extract["admission_source_id"]
        ),
    )
