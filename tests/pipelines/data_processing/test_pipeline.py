"""`kedro run --pipelines data_processing` end to end, in a scratch copy of the project."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from diab_readmit.datasets.delta_store import DeltaTableStore
from diab_readmit.pipelines.data_processing.raw_schema import RAW_COLUMNS

from .conftest import make_raw


def _gold(project):
    features = DeltaTableStore(
        path=str(project.data / "04_feature" / "feature_store")
    ).load()
    labels = DeltaTableStore(
        path=str(project.data / "04_feature" / "label_store")
    ).load()
    return features, labels


def _small_raw(n: int = 600) -> pd.DataFrame:
    dispositions = [1, 3, 6, 11, 13, 1, 22, 1]
    outcomes = ["NO", ">30", "<30", "NO", ">30"]
    return make_raw(
        [
            {
                "patient_nbr": i % 170,
                "discharge_disposition_id": dispositions[i % 8],
                "readmitted": outcomes[i % 5],
            }
            for i in range(n)
        ]
    )


@pytest.mark.slow
def test_gold_stores_partition_exactly_the_cohort(scratch_project):
    raw = _small_raw()
    raw.to_csv(scratch_project.data / "01_raw" / "diabetic_data.csv", index=False)
    scratch_project.run("--pipelines", "data_processing")

    features, labels = _gold(scratch_project)
    cohort = raw[
        ~raw["discharge_disposition_id"].astype(int).isin([11, 13, 14, 19, 20, 21])
    ]
    assert sorted(features["encounter_id"]) == sorted(
        cohort["encounter_id"].astype(int)
    )
    assert sorted(labels["encounter_id"]) == sorted(cohort["encounter_id"].astype(int))
    partitions = list(
        (scratch_project.data / "04_feature" / "feature_store").glob("partition_date=*")
    )
    assert len(partitions) == 120
    assert features.groupby("partition_date").size().min() >= 1


@pytest.mark.slow
def test_bad_raw_file_stops_with_one_clear_error_and_keeps_the_gold_stores(
    scratch_project,
):
    raw_path = scratch_project.data / "01_raw" / "diabetic_data.csv"
    _small_raw().to_csv(raw_path, index=False)
    scratch_project.run("--pipelines", "data_processing")
    before = _gold(scratch_project)
    log = scratch_project.data / "04_feature" / "feature_store" / "_delta_log"
    versions = sorted(p.name for p in log.glob("*.json"))

    bad = _small_raw().assign(num_lab_procedures="41")
    bad.loc[7, "num_lab_procedures"] = "forty"
    bad.to_csv(raw_path, index=False)
    result = scratch_project.run("--pipelines", "data_processing", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert (
        "column 'num_lab_procedures'" in output
        and "'forty'" in output
        and "line 9" in output
    )
    assert "diabetic_data.csv" in output

    after = _gold(scratch_project)
    assert sorted(p.name for p in log.glob("*.json")) == versions  # no new version
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])


@pytest.mark.slow
@pytest.mark.real_data
def test_real_uci_file_processed_in_full(scratch_project, uci_csv):
    shutil.copy(uci_csv, scratch_project.data / "01_raw" / "diabetic_data.csv")
    raw = pd.read_csv(uci_csv, usecols=["encounter_id", "readmitted"])
    assert len(raw) == 101_766
    assert round(100 * (raw["readmitted"] == "<30").mean(), 2) == 11.16

    scratch_project.run(
        "--pipelines",
        "data_processing",
        "--params",
        "cohort.exclude_discharge_dispositions=[]",
    )
    features, labels = _gold(scratch_project)
    assert len(features) == len(labels) == 101_766
    assert round(100 * labels["readmitted_30d"].mean(), 2) == 11.16
    assert features["partition_date"].nunique() == 120
    assert list(pd.read_csv(uci_csv, nrows=0).columns) == RAW_COLUMNS

    scratch_project.run(
        "--pipelines", "data_processing"
    )  # default cohort: no death or hospice
    features, labels = _gold(scratch_project)
    assert len(features) == 101_766 - 2_423
