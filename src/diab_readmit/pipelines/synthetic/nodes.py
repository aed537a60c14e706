"""Nodes of the ``synthetic`` pipeline: demo files in the exact UCI raw format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .next_month import next_month_extract
from .parameter_models import SyntheticParams
from .patient_histories import simulate_encounters
from .uci_frame import (
    ENCOUNTER_ID_SPAN,
    FIRST_ENCOUNTER_ID,
    PATIENT_NBR_SPAN,
    earlier_encounters_within_a_year,
    increasing_ids,
    scramble_final_ids,
    uci_frame,
)


def _simulate_file(
    synthetic: SyntheticParams, block: int = 0, n: int | None = None
) -> tuple[pd.DataFrame, dict, dict, dict]:
    """The raw file (or its ``block``-th block of ``n`` encounters), and the simulated
    patients, encounters and usual column values (per patient) behind it.

    Block 0 is drawn from ``seed`` alone, so a file of one block is the file without blocks;
    block ``b`` from ``[seed, b]``, with encounter ids and patient numbers in a range of its
    own above the previous block's (``increasing_ids`` never spans more than twice its
    span), so the blocks are independent and the file stays sorted by encounter_id.
    """
    rng = np.random.default_rng(
        synthetic.seed if block == 0 else [synthetic.seed, block]
    )
    n = synthetic.n_encounters if n is None else n
    patients, encounters = simulate_encounters(rng, n)
    n_patients = len(patients["frailty"])
    # Patients are numbered in order of their first admission, like the real ids.
    first_seen = np.full(n_patients, n, dtype=np.int64)
    np.minimum.at(first_seen, encounters["patient"], np.arange(n))
    patient_rank = np.empty(n_patients, dtype=np.int64)
    patient_rank[np.argsort(first_seen, kind="stable")] = np.arange(n_patients)
    patients["patient_nbr"] = increasing_ids(
        rng, n_patients, PATIENT_NBR_SPAN, block * (2 * PATIENT_NBR_SPAN + 1)
    )[patient_rank]
    usual: dict[str, np.ndarray] = {}

    def draw_usual(column, table):
        usual[column] = table.draw(rng, n_patients)
        return usual[column]

    frame = uci_frame(
        rng,
        encounters,
        patients,
        patients["patient_nbr"],
        earlier_encounters_within_a_year(
            encounters["patient"], encounters["admission"]
        ),
        draw_usual,
        lambda size: increasing_ids(
            rng,
            size,
            ENCOUNTER_ID_SPAN,
            FIRST_ENCOUNTER_ID + block * (2 * ENCOUNTER_ID_SPAN + 1),
        ),
    )
    if synthetic.scrambled_share:
        frame = scramble_final_ids(frame, synthetic.scrambled_share, rng)
    return frame, patients, encounters, usual


def generate_encounters(synthetic: SyntheticParams) -> pd.DataFrame:
    """Synthetic hospital encounters in the exact UCI "Diabetes 130-US hospitals" format.

    The 50 columns of the published file in its order, ``?`` where that file has missing
    values, rows in increasing ``encounter_id`` (the order in which they were admitted).
    Values are drawn from the published file's frequencies (``uci_marginals``); patients,
    their repeated encounters and the planted readmission signal come from
    ``patient_histories``. The same parameters always give the same frame.

    Args:
        synthetic: ``n_encounters`` (rows to generate) and ``seed``.

    Returns:
        One row per encounter; text columns as categoricals, ids and counts as int64.
    """
    return pd.concat(list(EncounterBlocks(synthetic)), ignore_index=True)


class EncounterBlocks:
    """The raw file as consecutive frames of at most ``block_encounters`` rows, simulated
    one at a time as they are iterated (``RawEncountersCSVDataset`` writes them one after
    the other), so that memory stays that of one block whatever the file's size.

    ``last`` is the final block's simulation, kept for the next month's extract.
    """

    def __init__(self, synthetic: SyntheticParams) -> None:
        self.synthetic = synthetic
        size, total = synthetic.block_encounters, synthetic.n_encounters
        self.sizes = [min(size, total - start) for start in range(0, total, size)]
        self.last = _simulate_file(synthetic, len(self.sizes) - 1, self.sizes[-1])
        #: As ``DataFrame.attrs``: ``provenance`` goes into the file's sidecar.
        self.attrs: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for block, size in enumerate(self.sizes[:-1]):
            yield _simulate_file(self.synthetic, block, size)[0]
        yield self.last[0]


def generate_demo_files(
    synthetic: SyntheticParams,
) -> tuple[EncounterBlocks, pd.DataFrame]:
    """The raw file of ``generate_encounters`` and the extract of the month after it.

    The extract (``next_month``) continues the same simulated patients (of the file's last
    block) into January 2009, as a hospital's next monthly extract: same 50 columns,
    ``readmitted`` empty (unknown at discharge), some patients returning from the file,
    with ``synthetic.next_month``'s planted drift.

    Args:
        synthetic: size, seed, block size and the next month's drift.

    Returns:
        The raw file, in blocks simulated as they are written, and the next month's
        extract, both in the UCI format.
    """
    blocks = EncounterBlocks(synthetic)
    frame, patients, encounters, usual = blocks.last
    extract = next_month_extract(frame, patients, encounters, usual, synthetic)
    blocks.attrs["provenance"] = demo_provenance(synthetic)
    extract.attrs["provenance"] = {
        **demo_provenance(synthetic),
        "next_month": synthetic.next_month.model_dump(),
    }
    return blocks, extract


def demo_provenance(synthetic: SyntheticParams) -> dict[str, Any]:
    """What the demo files' sidecars say: demo data, and the *world* it was simulated in
    (the settings that decide the raw file, byte for byte; its extract shares them)."""
    return {
        "demo": True,
        "written_by": "kedro run --pipelines synthetic",
        "world": synthetic.model_dump(
            include={"n_encounters", "seed", "scrambled_share", "block_encounters"}
        ),
    }
