"""Configuration rules and prerequisite checks, each failing with its own message."""

from __future__ import annotations

import copy

import pytest

from diab_readmit.parameter_models import TemporalSplits, TrainingConfig
from diab_readmit.pipelines.preprocessing.parameter_models import PreprocessingParams
from diab_readmit.pipelines.preprocessing.prerequisites import (
    PrerequisiteError,
    check_gold_data_exists,
    check_model_config,
    check_sufficient_training_data,
)

from .conftest import PARAMETERS

SPLITS = PARAMETERS["temporal_splits"]
PREPROCESSING = PARAMETERS["preprocessing"]


def _splits(**changes: str) -> dict:
    """The configured windows with ``window__end`` = date changes."""
    splits = copy.deepcopy(SPLITS)
    for key, value in changes.items():
        window, end = key.split("__")
        splits[window][f"{end}_date"] = value
    return splits


def _config_error(
    temporal_splits=None, training_config=None, preprocessing=None
) -> str:
    with pytest.raises(PrerequisiteError) as caught:
        check_model_config(
            SPLITS if temporal_splits is None else temporal_splits,
            {} if training_config is None else training_config,
            PREPROCESSING if preprocessing is None else preprocessing,
        )
    return str(caught.value)


def test_project_configuration_passes_as_raw_dicts_and_as_models():
    summary = check_model_config(SPLITS, {}, PREPROCESSING)
    assert summary["temporal_splits"] == {
        "train": {"start_date": "1999-01-01", "end_date": "2005-12-31"},
        "test": {"start_date": "2006-01-01", "end_date": "2007-12-31"},
        "oot": {"start_date": "2008-01-01", "end_date": "2008-12-31"},
    }
    assert summary["enabled_algorithms"] == [
        "logistic_regression",
        "random_forest",
        "xgboost",
    ]
    models = (
        TemporalSplits.model_validate(SPLITS),
        TrainingConfig(),
        PreprocessingParams(**PREPROCESSING),
    )
    assert check_model_config(*models) == summary


def test_window_start_after_end_names_the_window_and_both_dates():
    message = _config_error(
        _splits(
            test__start="2008-01-01", oot__start="2009-01-01", oot__end="2009-12-31"
        )
    )
    assert "temporal_splits.test" in message
    assert "start_date 2008-01-01 is after end_date 2007-12-31" in message
    assert "conf/base/parameters_preprocessing.yml" in message


def test_overlapping_windows_name_both_dates():
    message = _config_error(_splits(train__end="2006-06-30"))
    assert (
        "train.end_date 2006-06-30 must be before test.start_date 2006-01-01" in message
    )
    assert "must not overlap" in message


def test_windows_out_of_order_are_refused():
    message = _config_error(_splits(oot__start="2005-01-01", oot__end="2005-12-31"))
    assert (
        "test.end_date 2007-12-31 must be before oot.start_date 2005-01-01" in message
    )


def test_unparseable_date_names_the_key_and_the_value():
    message = _config_error(_splits(train__start="1999-13-01"))
    assert "temporal_splits.train.start_date = '1999-13-01'" in message
    assert "month value is outside expected range" in message


def test_missing_window_and_misspelt_key_are_named():
    splits = copy.deepcopy(SPLITS)
    splits["tset"] = splits.pop("test")
    message = _config_error(splits)
    assert "temporal_splits.test" in message and "Field required" in message
    assert (
        "temporal_splits.tset" in message
        and "Extra inputs are not permitted" in message
    )


def test_missing_temporal_splits_says_where_to_set_it():
    with pytest.raises(
        PrerequisiteError,
        match="temporal_splits is missing: set it in conf/base/parameters_preprocessing.yml",
    ):
        check_model_config(None, {}, PREPROCESSING)


def test_every_invalid_parameter_is_reported_at_once():
    message = _config_error(
        _splits(train__start="x"),
        {"enabled_algorithms": {"xgbost": True}},
        {**PREPROCESSING, "min_partitions": 0},
    )
    assert "temporal_splits.train.start_date = 'x'" in message
    assert "training_config.enabled_algorithms = {'xgbost': True}" in message
    assert "preprocessing.min_partitions = 0" in message


def test_unknown_algorithm_is_named_with_the_valid_ones():
    message = _config_error(training_config={"enabled_algorithms": {"xgbost": True}})
    assert "training_config.enabled_algorithms" in message
    assert "unknown algorithm(s) ['xgbost']" in message and "'xgboost'" in message
    assert "conf/base/parameters_training.yml" in message


def test_windows_must_cover_whole_months():
    message = _config_error(_splits(train__end="2005-12-15", test__start="2006-01-02"))
    assert (
        "temporal_splits.train.end_date = 2005-12-15 is not the last day of a month (use 2005-12-31)"
        in message
    )
    assert (
        "temporal_splits.test.start_date = 2006-01-02 is not the first day of a month (use 2006-01-01)"
        in message
    )


def test_february_end_of_month_is_accepted():
    check_model_config(
        _splits(train__end="2004-02-29", test__start="2004-03-01"), {}, PREPROCESSING
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"numeric_features_to_scale": []},
            "preprocessing.numeric_features_to_scale = []: List should have at least 1 item",
        ),
        (
            {"numeric_features_to_scale": ["age_midpoint", "age_midpoint"]},
            "lists ['age_midpoint'] more than once",
        ),
        (
            {"excluded_columns": ["diag_1", "encounter_id"]},
            "must contain the identity columns ['patient_nbr', 'encounter_date', 'partition_date']",
        ),
        (
            {"numeric_features_to_scale": ["age_midpoint", "patient_nbr"]},
            "['patient_nbr'] cannot be scaled",
        ),
        (
            {"numeric_features_to_scale": ["age_midpoint", "diag_1"]},
            "target_encoded_columns ['diag_1'] are also in",
        ),
        (
            {"target_encoded_columns": ["diag_1", "encounter_id"]},
            "target_encoded_columns ['encounter_id'] are also in",
        ),
        (
            {"numeric_features_to_scale": ["readmitted_30d"]},
            "['readmitted_30d'] cannot be scaled",
        ),
        (
            {"min_partitions": 0},
            "preprocessing.min_partitions = 0: Input should be greater than or equal to 1",
        ),
    ],
)
def test_preprocessing_parameters_rules(change, expected):
    assert expected in _config_error(preprocessing={**PREPROCESSING, **change})


def _index(
    path: str = "data/04_feature/feature_store", months: int = 12, rows: int = 5
) -> dict:
    partitions = [
        {"partition": f"partition_date=2000-{m:02d}-01", "rows": rows}
        for m in range(1, months + 1)
    ]
    return {
        "path": path,
        "exists": True,
        "rows": rows * months,
        "partitions": partitions,
    }


MISSING = {
    "path": "data/04_feature/label_store",
    "exists": False,
    "rows": 0,
    "partitions": [],
}


def test_gold_data_exists_summarises_both_stores():
    summary = check_gold_data_exists(_index(), _index("data/04_feature/label_store"))
    assert summary["feature_store"]["rows"] == 60
    assert summary["label_store"]["partition_count"] == 12
    assert summary["feature_store"]["partitions"][0] == "partition_date=2000-01-01"


def test_missing_store_is_named_with_its_path_and_what_to_run():
    with pytest.raises(PrerequisiteError) as caught:
        check_gold_data_exists(_index(), MISSING)
    message = str(caught.value)
    assert "the label store at data/04_feature/label_store does not exist" in message
    assert "feature store" not in message
    assert "Run `kedro run --pipelines data_processing` first." in message


def test_both_stores_missing_or_empty_are_all_reported():
    empty = {**_index(months=2, rows=0), "rows": 0}
    with pytest.raises(PrerequisiteError) as caught:
        check_gold_data_exists(empty, MISSING)
    message = str(caught.value)
    assert (
        "the feature store at data/04_feature/feature_store is empty (0 rows)"
        in message
    )
    assert "the label store at data/04_feature/label_store does not exist" in message


def test_enough_partitions_passes_and_counts_them():
    assert check_sufficient_training_data(_index(months=10), min_partitions=10) == 10


def test_too_few_partitions_says_how_many_and_how_to_get_more():
    with pytest.raises(PrerequisiteError) as caught:
        check_sufficient_training_data(_index(months=9), min_partitions=10)
    message = str(caught.value)
    assert "has 9 non-empty monthly partition(s) (2000-01-01 .. 2000-09-01)" in message
    assert "fewer than preprocessing.min_partitions = 10" in message
    assert "kedro run --pipelines data_processing" in message


def test_empty_partitions_do_not_count():
    index = _index(months=10)
    index["partitions"][0]["rows"] = 0
    with pytest.raises(PrerequisiteError, match="has 9 non-empty"):
        check_sufficient_training_data(index, min_partitions=10)


def test_sufficient_data_check_on_a_missing_store_says_what_to_run():
    with pytest.raises(
        PrerequisiteError,
        match=r"does not exist .*Run `kedro run --pipelines data_processing` first",
    ):
        check_sufficient_training_data(
            {**MISSING, "path": "s3://b/feature_store"}, min_partitions=10
        )
