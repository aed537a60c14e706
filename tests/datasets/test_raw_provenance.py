"""Demo data is recognisable: the synthetic files' sidecars, read back as provenance, and
what counts as the same data for a model and an extract."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from diab_readmit.datasets.raw_encounters import RawEncountersCSVDataset
from diab_readmit.datasets.raw_provenance import (
    SIDECAR_SUFFIX,
    RawFileProvenanceDataset,
    describe,
    same_data,
)
from diab_readmit.pipelines.synthetic.nodes import generate_demo_files
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams

WORLD = {"n_encounters": 1000, "seed": 3, "scrambled_share": 0.0}


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    """The synthetic node's two outputs saved as the synthetic catalog entries save them."""
    folder = tmp_path_factory.mktemp("raw")
    blocks, extract = generate_demo_files(SyntheticParams(n_encounters=1000, seed=3))
    for name, data in (("diabetic_data.csv", blocks), ("2009-01.csv", extract)):
        RawEncountersCSVDataset(
            filepath=str(folder / name),
            save_args={"index": False},
            provenance_sidecar=True,
        ).save(data)
    return folder


def test_the_demo_files_carry_a_sidecar_with_their_sha256(demo_files):
    for name in ("diabetic_data.csv", "2009-01.csv"):
        sidecar = json.loads((demo_files / f"{name}{SIDECAR_SUFFIX}").read_text())
        provenance = RawFileProvenanceDataset(filepath=str(demo_files / name)).load()
        assert sidecar["demo"] is True and sidecar["sha256"] == provenance["sha256"]
        assert provenance["demo"] is True
        assert provenance["world"] == {**WORLD, "block_encounters": 2_000_000}
    raw = RawFileProvenanceDataset(filepath=str(demo_files / "diabetic_data.csv"))
    extract = RawFileProvenanceDataset(filepath=str(demo_files / "2009-01.csv"))
    assert same_data(raw.load(), extract.load())


def test_a_file_replaced_under_its_sidecar_is_no_longer_demo_data(tmp_path):
    path = tmp_path / "diabetic_data.csv"
    frame = pd.DataFrame({"encounter_id": ["1", "2"]})
    frame.attrs["provenance"] = {"demo": True, "world": WORLD}
    RawEncountersCSVDataset(filepath=str(path), provenance_sidecar=True).save(frame)
    assert RawFileProvenanceDataset(filepath=str(path)).load()["demo"] is True

    path.write_text("encounter_id\n7\n")  # the real file copied over the demo one
    provenance = RawFileProvenanceDataset(filepath=str(path)).load()
    assert provenance["demo"] is False and provenance["world"] is None


def test_a_plain_save_writes_no_sidecar(tmp_path):
    path = tmp_path / "extract.csv"
    frame = pd.DataFrame({"encounter_id": ["1"]})
    frame.attrs["provenance"] = {"demo": True}
    RawEncountersCSVDataset(filepath=str(path)).save(frame)
    assert not (tmp_path / f"extract.csv{SIDECAR_SUFFIX}").exists()
    assert RawFileProvenanceDataset(filepath=str(path)).load()["demo"] is False


def test_a_demo_extract_belongs_only_with_a_model_of_its_own_demo_world():
    real = {"path": "data/01_raw/diabetic_data.csv", "sha256": "ab" * 32, "demo": False}
    demo = {"demo": True, "world": WORLD, "sha256": "cd" * 32}
    other_demo = {"demo": True, "world": {**WORLD, "seed": 4}}
    assert same_data(demo, {"demo": True, "world": WORLD})
    assert not same_data(real, {"demo": True, "world": WORLD})
    assert not same_data(other_demo, {"demo": True, "world": WORLD})
    assert not same_data(None, {"demo": True, "world": WORLD})
    assert same_data(real, {"demo": False}) and same_data(demo, {"demo": False})
    assert describe(demo) == "demo data (seed 3, 1,000 encounters)"
    assert describe(real) == "data/01_raw/diabetic_data.csv (sha256 abababab)"
