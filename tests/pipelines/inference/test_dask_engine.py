"""Batch scoring on the Dask engine gives the pandas path's features and predictions."""

from __future__ import annotations

import dask.dataframe as dd
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from diab_readmit.engine import EngineParams
from diab_readmit.pipelines.data_processing.parameter_models import (
    CohortParams,
    EncounterDatesParams,
    OrderAuditParams,
)
from diab_readmit.pipelines.data_processing.raw_schema import RawDataError
from diab_readmit.pipelines.inference.dask_engine import (
    build_scoring_features_by_patient,
)
from diab_readmit.pipelines.inference.features import (
    build_scoring_features,
    type_new_extracts,
)
from diab_readmit.pipelines.inference.nodes import score_new_encounters
from diab_readmit.pipelines.inference.parameter_models import InferenceParams

from .conftest import new_extract

READ = {"dtype": str, "keep_default_na": False}
PARAMS = (EncounterDatesParams(), OrderAuditParams(), CohortParams(), "raw.csv")


def _typed(extracts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    loaders = {name: (lambda frame=frame: frame) for name, frame in extracts.items()}
    return type_new_extracts(loaders, EncounterDatesParams(), "new_encounters")


def test_dask_scoring_features_and_predictions_equal_the_pandas_ones(
    client, raw, champion_bundle, tmp_path
):
    path = tmp_path / "raw.csv"
    raw.to_csv(path, index=False)
    on_disk = pd.read_csv(path, **READ)
    # Returning patients (with raw history, some several stays), in two months, and some
    # outside the cohort (discharged to hospice).
    january = new_extract(on_disk, slice(0, 1600, 3), 10**9)
    february = new_extract(on_disk, slice(1, 1600, 4), 2 * 10**9)
    february.loc[february.index[::7], "discharge_disposition_id"] = "13"
    new = _typed({"2009-02": february, "2009-01": january})

    on_pandas = build_scoring_features(on_disk, new, *PARAMS)
    blocks = dd.read_csv(path, blocksize=120_000, **READ)
    assert blocks.npartitions >= 3
    on_dask = build_scoring_features_by_patient(
        blocks, new, *PARAMS, EngineParams(partitions=4)
    )
    assert len(on_pandas) > 500
    assert on_pandas["hist_prior_encounters"].gt(0).mean() > 0.5
    assert_frame_equal(on_dask, on_pandas, check_exact=True)

    champion = {
        **champion_bundle,
        "algorithm": "logistic_regression",
        "version_id": "v1",
    }
    scored = [
        score_new_encounters(features, champion, {}, {}, InferenceParams())
        for features in (on_pandas, on_dask)
    ]
    (pandas_predictions, pandas_rows), (dask_predictions, dask_rows) = scored
    assert_frame_equal(
        dask_predictions.drop(columns="scored_at"),
        pandas_predictions.drop(columns="scored_at"),
        check_exact=True,
    )
    assert_frame_equal(dask_rows, pandas_rows, check_exact=True)


def test_an_extract_repeating_a_raw_encounter_is_refused(client, raw, tmp_path):
    path = tmp_path / "raw.csv"
    raw.to_csv(path, index=False)
    repeated = new_extract(raw, slice(1500, 1510), 0)  # the raw file's own ids
    with pytest.raises(RawDataError, match=r"is in the raw file and an extract"):
        build_scoring_features_by_patient(
            dd.read_csv(path, blocksize=120_000, **READ),
            _typed({"2009-01": repeated}),
            *PARAMS,
            EngineParams(),
        )
