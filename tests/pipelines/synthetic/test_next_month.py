"""The demo's next monthly extract: UCI format, the same patients, and only the planted drift."""

from __future__ import annotations

import pandas as pd
import pytest

from diab_readmit.pipelines.synthetic.nodes import (
    generate_demo_files,
    generate_encounters,
)
from diab_readmit.pipelines.synthetic.parameter_models import (
    NextMonthDrift,
    SyntheticParams,
)

from .test_nodes import UCI_HEADER

SIZE = 30_000
NO_DRIFT = NextMonthDrift(older_share=0.0, emergency_room_share=0.0)


@pytest.fixture(scope="module")
def files():
    """Per drift: the raw file (its blocks concatenated), the extract, and the blocks."""

    def made(params):
        blocks, extract = generate_demo_files(params)
        return pd.concat(list(blocks), ignore_index=True), extract, blocks

    return {
        "drifted": made(SyntheticParams(n_encounters=SIZE, seed=3)),
        "undrifted": made(
            SyntheticParams(n_encounters=SIZE, seed=3, next_month=NO_DRIFT)
        ),
    }


def test_the_raw_file_is_the_one_generate_encounters_makes_whatever_the_drift(files):
    raw = generate_encounters(SyntheticParams(n_encounters=SIZE, seed=3))
    for frame, _, blocks in files.values():
        assert len(blocks) == 1  # SIZE is below block_encounters
        pd.testing.assert_frame_equal(frame, raw)


def test_the_extract_is_a_month_of_new_encounters_in_the_uci_format(files):
    raw, extract, _ = files["drifted"]
    assert list(extract.columns) == UCI_HEADER
    # About a month of the ten years in the file.
    assert SIZE / 120 * 0.7 < len(extract) < SIZE / 120 * 1.4
    assert set(extract["readmitted"]) == {""}
    assert extract["encounter_id"].is_monotonic_increasing
    assert extract["encounter_id"].is_unique
    assert extract["encounter_id"].min() > raw["encounter_id"].max()


def test_returning_patients_keep_who_they_are_and_new_ones_get_new_numbers(files):
    raw, extract, _ = files["undrifted"]
    returning = extract[extract["patient_nbr"].isin(raw["patient_nbr"])]
    new = extract[~extract["patient_nbr"].isin(raw["patient_nbr"])]
    # Patients come back: about the share of encounters in the file that are repeats.
    assert 0.15 < len(returning) / len(extract) < 0.5
    assert new["patient_nbr"].min() > raw["patient_nbr"].max()
    last = raw.drop_duplicates("patient_nbr", keep="last").set_index("patient_nbr")
    for column in ("race", "gender"):
        assert (
            returning[column].astype(str).to_numpy()
            == last.loc[returning["patient_nbr"], column].astype(str).to_numpy()
        ).all()


def test_only_the_planted_columns_differ_between_the_drifted_and_undrifted_month(files):
    drifted, undrifted = files["drifted"][1], files["undrifted"][1]
    changed = [
        column
        for column in UCI_HEADER
        if not drifted[column].astype(str).equals(undrifted[column].astype(str))
    ]
    assert changed == ["age", "admission_source_id"]
    emergency = (drifted["admission_source_id"] == 7).mean()
    assert emergency > (undrifted["admission_source_id"] == 7).mean() + 0.15
    older = drifted["age"].cat.codes.mean() - undrifted["age"].cat.codes.mean()
    assert older > 0.7  # 90% of the encounters one band older


def test_the_same_seed_gives_the_same_extract(files):
    again = generate_demo_files(SyntheticParams(n_encounters=SIZE, seed=3))[1]
    pd.testing.assert_frame_equal(again, files["drifted"][1])
