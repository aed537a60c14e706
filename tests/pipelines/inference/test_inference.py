"""Batch scoring: history across extracts, idempotent reruns, refused tampered models and bad
extracts, and the Python function scoring as the pipeline does."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError

from diab_readmit.datasets.champions import RegistryChampionsDataset
from diab_readmit.datasets.delta_store import DeltaTableStore
from diab_readmit.pipelines.data_processing.parameter_models import (
    CohortParams,
    EncounterDatesParams,
    OrderAuditParams,
)
from diab_readmit.pipelines.data_processing.raw_schema import RawDataError
from diab_readmit.pipelines.inference.features import (
    build_scoring_features,
    type_new_extracts,
)
from diab_readmit.pipelines.inference.nodes import (
    ScoringError,
    choose_champion,
    model_inputs,
)
from diab_readmit.pipelines.inference.parameter_models import InferenceParams
from diab_readmit.scoring import score
from tests.conftest import make_scratch_project

from .conftest import new_extract

DEFAULTS = (EncounterDatesParams(), OrderAuditParams(), CohortParams(), "raw")


def _features(raw, extracts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    loaders = {name: (lambda frame=frame: frame) for name, frame in extracts.items()}
    typed = type_new_extracts(loaders, EncounterDatesParams(), "new_encounters")
    return build_scoring_features(raw, typed, *DEFAULTS)


def test_a_patients_second_extract_sees_the_first_and_the_raw_file(raw):
    home = raw["discharge_disposition_id"] == "1"  # in the cohort
    patient = raw.loc[home, "patient_nbr"].value_counts().index[0]  # several raw stays
    stays = raw[(raw["patient_nbr"] == patient) & home]
    january = new_extract(stays.tail(1), slice(None), 10**9)
    january["num_medications"] = "33"
    february = new_extract(stays.tail(1), slice(None), 2 * 10**9)
    # Named out of order: history follows the months, not the file names.
    features = _features(raw, {"b_2009-02": february, "a_2009-01": january})
    jan, feb = (
        features[features["extract"] == n].iloc[0]
        for n in ("a_2009-01.csv", "b_2009-02.csv")
    )
    assert jan["hist_prior_encounters"] >= len(stays) - 1 >= 1  # the raw file's stays
    assert feb["hist_prior_encounters"] == jan["hist_prior_encounters"] + 1
    assert (
        feb["hist_prev_num_medications"] == 33.0
    )  # the January stay is its previous one
    assert str(feb["partition_date"].date()) == "2009-02-01"
    # Without the January extract, February's history is the raw file's alone.
    alone = _features(raw, {"b_2009-02": february}).iloc[0]
    assert alone["hist_prior_encounters"] == jan["hist_prior_encounters"]


def test_an_extract_with_a_missing_column_or_no_month_is_refused_by_name(raw):
    extract = new_extract(raw, slice(0, 5), 10**9).drop(columns=["A1Cresult"])
    with pytest.raises(RawDataError, match=r"new_encounters/2009-01\.csv.*'A1Cresult'"):
        type_new_extracts(
            {"2009-01": lambda: extract}, EncounterDatesParams(), "new_encounters"
        )
    extract = new_extract(raw, slice(0, 5), 10**9)
    with pytest.raises(
        RawDataError, match=r"extract\.csv: the extract has no encounter dates"
    ):
        type_new_extracts(
            {"extract": lambda: extract}, EncounterDatesParams(), "new_encounters"
        )
    bad = extract.assign(readmitted="maybe")
    with pytest.raises(RawDataError, match="'readmitted'.*or empty"):
        type_new_extracts(
            {"2009-01": lambda: bad}, EncounterDatesParams(), "new_encounters"
        )
    repeated = new_extract(raw, slice(0, 5), 0)  # the raw file's own encounter ids
    typed = type_new_extracts(
        {"2009-01": lambda: repeated}, EncounterDatesParams(), "x"
    )
    with pytest.raises(RawDataError, match="is in the raw file and an extract"):
        build_scoring_features(raw, typed, *DEFAULTS)


def test_a_tampered_model_is_refused_and_inputs_are_checked(raw, registry):
    extract = new_extract(raw, slice(0, 20), 10**9)
    champions = RegistryChampionsDataset(path=str(registry)).load()
    model_file = registry / "logistic_regression" / "latest" / "model.pkl"
    original = model_file.read_bytes()
    for folder in ("latest", champions["logistic_regression"].version_id):
        (registry / "logistic_regression" / folder / "model.pkl").write_bytes(
            original[:-8] + b"tampered"
        )
    with pytest.raises(
        DatasetError, match="Refusing to load .*model.pkl.*modified or damaged"
    ):
        choose_champion(champions, InferenceParams())
    with pytest.raises(DatasetError, match="Refusing to load"):
        score(extract, str(registry), month="2009-01", history=raw)
    for folder in ("latest", champions["logistic_regression"].version_id):
        (registry / "logistic_regression" / folder / "model.pkl").write_bytes(original)
    # A model trained with an input the features do not have (other settings): refused.
    with pytest.raises(ScoringError, match="lack: \\['hist_days_since_last'\\]"):
        bundle = choose_champion(champions, InferenceParams())
        rows = _features(raw, {"2009-01": extract}).drop(
            columns="hist_days_since_last", errors="ignore"
        )
        bundle["model"].named_steps["preprocess"].feature_names_in_ = np.append(
            bundle["model"].named_steps["preprocess"].feature_names_in_,
            "hist_days_since_last",
        )
        model_inputs(bundle["model"], bundle["metadata"], rows)
    with pytest.raises(
        ScoringError, match="inference.algorithm is 'xgboost', which has no champion"
    ):
        choose_champion(champions, InferenceParams(algorithm="xgboost"))


def test_reruns_never_duplicate_and_python_scores_as_the_pipeline(
    raw, registry, tmp_path
):
    project = make_scratch_project(tmp_path / "project")
    raw.to_csv(project.data / "01_raw" / "diabetic_data.csv", index=False)
    shutil.copytree(registry, project.data / "06_models" / "model_registry")
    extracts = project.data / "01_raw" / "new_encounters"
    extracts.mkdir()
    first = new_extract(raw, slice(0, 300), 10**9)
    first.to_csv(extracts / "2009-01.csv", index=False)

    project.run("--pipelines", "inference")
    store = DeltaTableStore(path=str(project.data / "07_model_output" / "predictions"))
    scored = store.load()
    assert len(scored) == scored["encounter_id"].nunique() > 250
    assert set(scored["risk_tier"]) <= {"low", "medium", "high"}
    assert scored["partition_date"].eq(pd.Timestamp("2009-01-01")).all()
    # Every prediction carries its top reasons, largest contribution first.
    reasons = [f"reason_{i}" for i in (1, 2, 3)]
    assert list(scored.columns[scored.columns.get_loc("flagged") + 1 :][:3]) == [
        "reason_1",
        "reason_1_feature",
        "reason_1_contribution",
    ]
    assert (
        scored[reasons]
        .map(lambda phrase: isinstance(phrase, str) and phrase)
        .all(axis=None)
    )
    sizes = scored[[f"{r}_contribution" for r in reasons]].abs().to_numpy()
    assert (sizes[:, :-1] >= sizes[:, 1:]).all()
    assert (scored["reason_1_feature"] != scored["reason_2_feature"]).all()

    again = project.run("--pipelines", "inference")
    assert "Already scored by logistic_regression" in again.stdout + again.stderr
    assert store.load()["scored_at"].equals(scored["scored_at"])

    second = new_extract(raw, slice(300, 400), 2 * 10**9)
    second["readmitted"] = ""
    second.to_csv(extracts / "2009-02.csv", index=False)
    project.run("--pipelines", "inference", "--params", "inference.rescore=true")
    both = store.load()
    assert (
        len(both)
        == both["encounter_id"].nunique()
        == len(scored) + both["extract"].eq("2009-02.csv").sum()
    )
    features = DeltaTableStore(
        path=str(project.data / "04_feature" / "scored_feature_store")
    ).load()
    assert sorted(features["encounter_id"]) == sorted(both["encounter_id"])

    # The documented Python function gives the pipeline's risks.
    python = score(
        first,
        str(project.data / "06_models" / "model_registry"),
        month="2009-01",
        history=raw,
    )
    merged = python.merge(both, on="encounter_id", suffixes=("", "_pipeline"))
    assert len(merged) == len(python) == len(scored)
    np.testing.assert_allclose(merged["risk"], merged["risk_pipeline"], rtol=1e-9)
    assert (merged["risk_tier"] == merged["risk_tier_pipeline"]).all()
    assert (merged["reason_1"] == merged["reason_1_pipeline"]).all()
    quick = score(
        first,
        str(project.data / "06_models" / "model_registry"),
        month="2009-01",
        history=raw,
        parameters={"inference": {"reasons": 0}},
    )
    assert not quick.columns.str.startswith("reason_").any()


def test_a_demo_extract_is_refused_for_a_champion_trained_on_other_data():
    """Issue 25 item 3: the demo's January 2009 scored by a model of the real file."""
    from diab_readmit.pipelines.inference.nodes import (
        ScoringError,
        refuse_demo_extracts_of_other_data,
    )

    world = {"n_encounters": 100_000, "seed": 42}
    demo_extract = {"path": "new_encounters/2009-01.csv", "demo": True, "world": world}
    provenance = {"2009-01": lambda: demo_extract, "2009-02": lambda: {"demo": False}}

    def champion(raw_source):
        return {
            "algorithm": "xgboost",
            "version_id": "v20261202_004128",
            "metadata": {"population": {"raw_source": raw_source}},
        }

    real = {"path": "data/01_raw/diabetic_data.csv", "sha256": "ab" * 32, "demo": False}
    with pytest.raises(ScoringError) as raised:
        refuse_demo_extracts_of_other_data(
            ["2009-02.csv", "2009-01.csv"], provenance, champion(real)
        )
    assert str(raised.value).startswith(
        "new_encounters/2009-01.csv is demo data (seed 42, 100,000 encounters), written by "
        "`kedro run --pipelines synthetic`, but the champion xgboost v20261202_004128 was "
        "trained on data/01_raw/diabetic_data.csv (sha256 abababab)."
    )
    # The same demo world, and real extracts, are scored.
    refuse_demo_extracts_of_other_data(
        ["2009-01.csv"], provenance, champion({"demo": True, "world": world})
    )
    refuse_demo_extracts_of_other_data(["2009-02.csv"], provenance, champion(real))
