"""Files larger than one block: simulated and written block by block, in one block's memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError
from kedro_datasets.pandas import CSVDataset
from pydantic import ValidationError

from diab_readmit.datasets.raw_encounters import RawEncountersCSVDataset
from diab_readmit.pipelines.synthetic.nodes import (
    EncounterBlocks,
    generate_demo_files,
    generate_encounters,
)
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams

from .test_nodes import UCI_HEADER


def _written(tmp_path, name, data) -> bytes:
    path = tmp_path / name
    RawEncountersCSVDataset(filepath=str(path), save_args={"index": False}).save(data)
    return path.read_bytes()


def test_a_file_of_one_block_is_the_file_without_blocks(tmp_path):
    small = SyntheticParams(n_encounters=3_000, seed=7)
    one_block = SyntheticParams(n_encounters=3_000, seed=7, block_encounters=3_000)
    whole = tmp_path / "whole.csv"
    CSVDataset(filepath=str(whole), save_args={"index": False}).save(
        generate_encounters(small)
    )
    assert _written(tmp_path, "blocks.csv", EncounterBlocks(one_block)) == (
        whole.read_bytes()
    )


def test_blocks_write_the_bytes_of_their_frames_concatenated(tmp_path):
    params = SyntheticParams(n_encounters=5_500, seed=7, block_encounters=2_000)
    blocks = EncounterBlocks(params)
    assert blocks.sizes == [2_000, 2_000, 1_500]
    frames = list(blocks)
    whole = tmp_path / "whole.csv"
    CSVDataset(filepath=str(whole), save_args={"index": False}).save(
        pd.concat(frames, ignore_index=True)
    )
    written = _written(tmp_path, "blocks.csv", EncounterBlocks(params))
    assert written == whole.read_bytes()  # and the same again: deterministic
    assert written.decode().splitlines()[0] == ",".join(UCI_HEADER)

    ids = [frame["encounter_id"].to_numpy() for frame in frames]
    assert all(np.all(np.diff(block) > 0) for block in ids)
    assert all(a[-1] < b[0] for a, b in zip(ids, ids[1:], strict=False))
    patients = [set(frame["patient_nbr"]) for frame in frames]
    assert not (patients[0] & patients[1]) and not (patients[1] & patients[2])
    # Each block is a population of its own, not a copy of the first.
    assert (
        not frames[0]["age"]
        .reset_index(drop=True)
        .equals(frames[1]["age"].reset_index(drop=True))
    )


def test_the_next_month_continues_the_last_block(tmp_path):
    blocks, extract = generate_demo_files(
        SyntheticParams(n_encounters=4_000, seed=2, block_encounters=2_000)
    )
    last = blocks.last[0]
    assert extract["encounter_id"].min() > last["encounter_id"].max()
    returning = set(extract["patient_nbr"]) & set(last["patient_nbr"])
    assert returning


def test_a_failed_block_leaves_no_half_file(tmp_path):
    def frames():
        yield generate_encounters(SyntheticParams(n_encounters=1_000, seed=1))
        raise MemoryError("simulated")

    path = tmp_path / "raw.csv"
    with pytest.raises(DatasetError, match="simulated"):
        RawEncountersCSVDataset(filepath=str(path), save_args={"index": False}).save(
            frames()
        )
    assert not path.exists()


def test_scrambling_needs_one_block():
    with pytest.raises(ValidationError, match=r"scrambled_share=0.1 needs the whole"):
        SyntheticParams(n_encounters=5_000, scrambled_share=0.1, block_encounters=2_000)
