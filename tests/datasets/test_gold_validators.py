"""The gold stores' validators, as the catalog runs them on load and save."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog

from diab_readmit.datasets.delta_store import DeltaTableStore


def catalog(tmp_path) -> DataCatalog:
    return DataCatalog.from_config(
        {
            "feature_store": {
                "type": "diab_readmit.datasets.delta_store.DeltaTableStore",
                "path": str(tmp_path / "features"),
                "validator": "diab_readmit.datasets.gold_validators.FeatureStoreValidator",
            },
            "label_store": {
                "type": "diab_readmit.datasets.delta_store.DeltaTableStore",
                "path": str(tmp_path / "labels"),
                "validator": "diab_readmit.datasets.gold_validators.LabelStoreValidator",
            },
        }
    )


def features(n: int = 6) -> pd.DataFrame:
    dates = pd.date_range("2002-01-01", periods=n, freq="MS").astype("datetime64[ms]")
    data = pd.DataFrame(
        {
            "encounter_id": range(100, 100 + n),
            "patient_nbr": range(n),
            "encounter_date": dates,
            "partition_date": dates,
            "diag_1": "428",
            "diag_2": "250.83",
            "diag_3": None,
            "age_midpoint": 75.0,
            "hist_prior_encounters": 0.0,
        }
    )
    for column in (
        "time_in_hospital",
        "num_lab_procedures",
        "num_procedures",
        "num_medications",
        "number_outpatient",
        "number_emergency",
        "number_inpatient",
        "number_diagnoses",
    ):
        data[column] = 1.0
    return data


def labels(n: int = 6) -> pd.DataFrame:
    dates = pd.date_range("2002-01-01", periods=n, freq="MS").astype("datetime64[ms]")
    return pd.DataFrame(
        {
            "encounter_id": range(100, 100 + n),
            "partition_date": dates,
            "readmitted_30d": 0,
        }
    )


def test_valid_stores_round_trip(tmp_path):
    cat = catalog(tmp_path)
    cat.save("feature_store", features())
    cat.save("label_store", labels())
    assert len(cat.load("feature_store")) == len(cat.load("label_store")) == 6


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda f: f.assign(age_midpoint=[75.0, 75.0, 130.0, 75.0, 75.0, 75.0]),
            r"'age_midpoint'.*outside \[0, 100\], e\.g\. 130\.0 in partition partition_date=2002-03-01, encounter_id 102",
        ),
        (
            lambda f: f.assign(num_medications=[1.0, -3.0, 1, 1, 1, 1]),
            r"'num_medications'.*-3\.0.*encounter_id 101",
        ),
        (
            lambda f: f.assign(encounter_id=[100, 100, 102, 103, 104, 105]),
            r"encounter_id must be unique.*2002-01-01",
        ),
        (
            lambda f: f.assign(hist_prior_encounters=[0.0, None, 0, 0, 0, 0]),
            r"'hist_prior_encounters' has missing values",
        ),
        (
            lambda f: f.drop(columns=["patient_nbr"]),
            r"missing column\(s\) \['patient_nbr'\]",
        ),
    ],
)
def test_feature_store_violations_are_named_when_loaded(tmp_path, change, expected):
    bad = change(features())
    DeltaTableStore(path=str(tmp_path / "features")).save(
        bad
    )  # written behind the catalog's back
    with pytest.raises(Exception, match=expected) as error:
        catalog(tmp_path).load("feature_store")
    assert "feature_store" in str(error.value)


def test_label_outside_0_1_is_refused_on_save_and_nothing_is_written(tmp_path):
    cat = catalog(tmp_path)
    cat.save("label_store", labels())
    with pytest.raises(
        Exception,
        match=r"'readmitted_30d' must be 0 or 1, found 2 in partition partition_date=2002-02-01",
    ):
        cat.save("label_store", labels().assign(readmitted_30d=[0, 2, 0, 0, 0, 0]))
    assert cat.load("label_store")["readmitted_30d"].eq(0).all()
