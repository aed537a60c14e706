"""Join, temporal windows and scaler on hand-made gold frames."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from diab_readmit.parameter_models import TemporalSplits
from diab_readmit.pipelines.preprocessing.nodes import (
    PreprocessingError,
    assemble_snapshot,
    fit_scaler,
    join_features_and_labels,
    scale_windows,
    split_temporal_windows,
)
from diab_readmit.pipelines.preprocessing.parameter_models import PreprocessingParams
from diab_readmit.pipelines.preprocessing.prerequisites import (
    check_model_config,
    record_prerequisites,
)

from .conftest import PARAMETERS, PASSTHROUGH, SCALED, make_gold

PREREQUISITES = record_prerequisites(
    check_model_config(PARAMETERS["temporal_splits"], {}, PARAMETERS["preprocessing"]),
    {"feature_store": {"path": "f"}, "label_store": {"path": "l"}},
    partition_count=120,
)
SPLITS = TemporalSplits.model_validate(PARAMETERS["temporal_splits"])
PREPROCESSING = PreprocessingParams(**PARAMETERS["preprocessing"])
CODED = PARAMETERS["preprocessing"]["target_encoded_columns"]


@pytest.fixture(scope="module")
def gold():
    return make_gold()


@pytest.fixture(scope="module")
def windows(gold):
    labelled, _ = join_features_and_labels(*gold, PREREQUISITES)
    return split_temporal_windows(labelled, SPLITS)


def test_join_attaches_each_label_to_its_encounter(gold):
    features, labels = gold
    shuffled = labels.sample(frac=1, random_state=1)
    labelled, report = join_features_and_labels(features, shuffled, PREREQUISITES)

    assert len(labelled) == len(features)
    expected = labels.set_index("encounter_id")["readmitted_30d"]
    assert (
        labelled["readmitted_30d"].to_numpy()
        == expected.loc[labelled["encounter_id"]].to_numpy()
    ).all()
    assert labelled["readmitted_30d"].dtype == np.int8
    assert report["features_without_label"] == report["labels_without_features"] == 0
    assert report["sources"] == PREREQUISITES["sources"]


def test_unmatched_encounters_are_counted_and_logged_not_silently_dropped(gold, caplog):
    features, labels = gold
    labels = labels.iloc[3:]  # the first 3 encounters lose their labels
    extra = pd.DataFrame(
        {
            "encounter_id": [5, 6],
            "partition_date": labels["partition_date"].iloc[:2].to_numpy(),
            "readmitted_30d": np.int8(0),
        }
    )
    labels = pd.concat([labels, extra])

    with caplog.at_level(logging.WARNING):
        labelled, report = join_features_and_labels(features, labels, PREREQUISITES)

    assert len(labelled) == len(features) - 3
    assert report["features_without_label"] == 3
    assert report["labels_without_features"] == 2
    logged = caplog.text
    assert "3 of 1200 feature_store encounters have no label" in logged
    assert "2 of 1199 label_store encounters have no row in feature_store" in logged
    assert str(features["encounter_id"].iloc[0]) in logged


@pytest.mark.parametrize("store", ["feature_store", "label_store"])
def test_duplicate_encounters_are_an_error_naming_the_store(gold, store):
    features, labels = gold
    if store == "feature_store":
        features = pd.concat([features, features.iloc[[4]]])
    else:
        labels = pd.concat([labels, labels.iloc[[4, 5]]])
    duplicate_id = int(features["encounter_id"].iloc[4])
    with pytest.raises(
        PreprocessingError,
        match=rf"{store} has \d rows sharing \d encounter_id value\(s\) \(e\.g\. \[{duplicate_id}",
    ):
        join_features_and_labels(features, labels, PREREQUISITES)


def test_partition_mismatch_between_stores_is_an_error(gold):
    features, labels = gold
    labels = labels.copy()
    labels.loc[10, "partition_date"] = pd.Timestamp("2001-01-01")
    with pytest.raises(
        PreprocessingError,
        match=r"1 encounters have a different partition_date .*different runs",
    ):
        join_features_and_labels(features, labels, PREREQUISITES)


def test_stores_without_common_encounters_are_an_error(gold):
    features, labels = gold
    with pytest.raises(PreprocessingError, match="No encounter of the feature_store"):
        join_features_and_labels(
            features,
            labels.assign(encounter_id=labels["encounter_id"] + 1),
            PREREQUISITES,
        )


def test_windows_are_exactly_respected(gold, windows):
    train, test, oot, report = windows
    labelled = gold[0]
    for name, rows in zip(("train", "test", "oot"), (train, test, oot)):
        window = SPLITS.windows()[name]
        start, end = pd.Timestamp(window.start_date), pd.Timestamp(window.end_date)
        assert rows["partition_date"].between(start, end).all(), f"row outside {name}"
        inside = labelled.loc[
            labelled["partition_date"].between(start, end), "encounter_id"
        ]
        assert sorted(rows["encounter_id"]) == sorted(inside), (
            f"{name} misses in-window rows"
        )
        assert report["windows"][name]["rows"] == len(rows)
        assert report["windows"][name]["readmission_rate"] == pytest.approx(
            rows["readmitted_30d"].mean()
        )
    assert (len(train), len(test), len(oot)) == (840, 240, 120)


def test_rows_outside_every_window_are_counted_by_reason(gold):
    labelled, _ = join_features_and_labels(
        *make_gold("1998-01-01", "2009-06-01", rows_per_month=2), PREREQUISITES
    )
    splits = TemporalSplits.model_validate(
        {
            "train": {"start_date": "1999-01-01", "end_date": "2004-12-31"},
            "test": {"start_date": "2006-01-01", "end_date": "2007-12-31"},
            "oot": {"start_date": "2008-01-01", "end_date": "2008-12-31"},
        }
    )
    train, test, oot, report = split_temporal_windows(labelled, splits)
    dropped = {
        reason: value["rows"]
        for reason, value in report["rows_outside_windows"].items()
    }
    assert dropped == {
        "before_train_window": 24,
        "between_windows": 24,
        "after_oot_window": 12,
    }
    assert len(train) + len(test) + len(oot) + sum(dropped.values()) == len(labelled)


def test_empty_window_is_an_error_naming_it_and_its_dates():
    labelled, _ = join_features_and_labels(
        *make_gold("1999-01-01", "2007-12-01", rows_per_month=2), PREREQUISITES
    )
    with pytest.raises(PreprocessingError) as caught:
        split_temporal_windows(labelled, SPLITS)
    message = str(caught.value)
    assert (
        "temporal window 'oot' (2008-01-01 .. 2008-12-31; temporal_splits.oot) has no rows"
        in message
    )
    assert "covers partitions 1999-01-01 .. 2007-12-01" in message


def test_window_without_positives_is_an_error_naming_it():
    features, labels = make_gold(rows_per_month=2)
    in_test = labels["partition_date"].between("2006-01-01", "2007-12-31")
    labels.loc[in_test, "readmitted_30d"] = 0
    labelled, _ = join_features_and_labels(features, labels, PREREQUISITES)
    with pytest.raises(
        PreprocessingError,
        match=r"temporal window 'test' \(2006-01-01 \.\. 2007-12-31; temporal_splits.test\) has 48 rows but no positive readmitted_30d",
    ):
        split_temporal_windows(labelled, SPLITS)


def test_scaler_is_fitted_on_train_only(windows):
    train, test, oot, _ = windows
    scaler = fit_scaler(train, PREPROCESSING)
    standard = scaler.named_transformers_["scaled"]

    np.testing.assert_allclose(
        standard.mean_, train[SCALED].mean().to_numpy(), rtol=1e-5
    )
    np.testing.assert_allclose(
        standard.scale_, train[SCALED].std(ddof=0).to_numpy(), rtol=1e-4
    )
    everything = pd.concat([train, test, oot])
    assert not np.allclose(
        standard.mean_, everything[SCALED].mean().to_numpy(), rtol=1e-5
    )


def test_scaler_takes_gold_rows_and_outputs_model_inputs_in_a_fixed_order(windows):
    train, test, _, _ = windows
    scaler = fit_scaler(train, PREPROCESSING)

    expected = SCALED + CODED + PASSTHROUGH
    assert list(scaler.get_feature_names_out()) == expected
    shuffled_columns = test[list(reversed(test.columns))]
    out = scaler.transform(shuffled_columns)
    assert list(out.columns) == expected
    assert (out.dtypes == np.float32).all()
    pd.testing.assert_frame_equal(
        out[PASSTHROUGH].reset_index(drop=True),
        test[PASSTHROUGH].reset_index(drop=True),
    )
    for never_an_input in (
        "encounter_id",
        "patient_nbr",
        "encounter_date",
        "partition_date",
        "readmitted_30d",
    ):
        assert never_an_input not in out.columns
    # A raw code becomes its readmission rate: a number, the same for the same code.
    rates = out["diag_1"].groupby(test["diag_1"].to_numpy()).nunique()
    assert (rates == 1).all() and out["diag_1"].between(0, 1).all()


def test_target_encoding_learns_from_train_only_and_cross_fits_the_train_rows(windows):
    train, test, oot, _ = windows
    scaler = fit_scaler(train, PREPROCESSING)
    scaled_train, scaled_test, _ = scale_windows(scaler, train, test, oot)
    # Test rows: one value per code, from train labels only (relabelling test changes nothing).
    relabelled = test.assign(readmitted_30d=1 - test["readmitted_30d"])
    pd.testing.assert_frame_equal(scaler.transform(relabelled), scaler.transform(test))
    assert scaled_test.groupby(test["diag_1"].to_numpy())["diag_1"].nunique().max() == 1
    # Train rows: cross-fitted, so one code has several values (one per fold) and none of
    # them is the full-train rate that includes the row's own label.
    per_code = scaled_train.groupby(train["diag_1"].to_numpy())["diag_1"].nunique()
    assert per_code.min() > 1
    full_rate = scaler.transform(train)["diag_1"].to_numpy()
    assert not np.allclose(scaled_train["diag_1"].to_numpy(), full_rate)


def test_a_missing_code_is_encoded_alike_however_it_arrives(windows):
    train, test, _, _ = windows
    scaler = fit_scaler(train, PREPROCESSING)
    as_question_mark = test.assign(diag_2="?")
    as_none = test.assign(diag_2=pd.array([None] * len(test), dtype="string"))
    as_object = test.assign(diag_2=np.array([None] * len(test), dtype=object))
    expected = scaler.transform(as_question_mark)["diag_2"]
    for other in (as_none, as_object):
        pd.testing.assert_series_equal(scaler.transform(other)["diag_2"], expected)


def test_scaled_windows_carry_ids_label_and_float32_features(windows):
    train, test, oot, _ = windows
    scaler = fit_scaler(train, PREPROCESSING)
    scaled = scale_windows(scaler, train, test, oot)

    for rows, out in zip((train, test, oot), scaled):
        assert list(out.columns[:4]) == [
            "encounter_id",
            "patient_nbr",
            "partition_date",
            "readmitted_30d",
        ]
        assert (out["encounter_id"].to_numpy() == rows["encounter_id"].to_numpy()).all()
        assert (
            out["readmitted_30d"].to_numpy() == rows["readmitted_30d"].to_numpy()
        ).all()
        assert (out[SCALED + PASSTHROUGH].dtypes == np.float32).all()
    np.testing.assert_allclose(scaled[0][SCALED].mean().to_numpy(), 0, atol=1e-4)


def test_missing_values_in_a_window_are_an_error_naming_columns_and_window(windows):
    train, test, oot, _ = windows
    scaler = fit_scaler(train, PREPROCESSING)
    test = test.copy()
    test.loc[3, "age_midpoint"] = np.nan
    with pytest.raises(
        PreprocessingError,
        match=r"Model inputs \['age_midpoint'\] have missing or infinite values in the 'test' window",
    ):
        scale_windows(scaler, train, test, oot)


def test_configured_feature_absent_from_gold_is_named(windows):
    params = PreprocessingParams(
        **{
            **PARAMETERS["preprocessing"],
            "numeric_features_to_scale": ["age_midpoint", "age_in_days"],
        }
    )
    with pytest.raises(
        PreprocessingError,
        match=r"numeric_features_to_scale lists \['age_in_days'\], which are not numeric columns",
    ):
        fit_scaler(windows[0], params)


def test_unexpected_text_column_is_refused_not_dropped(windows):
    train = windows[0].assign(admission_note="text")
    with pytest.raises(
        PreprocessingError,
        match=r"columns \['admission_note \(.*\)'\] are not numeric.*excluded_columns",
    ):
        fit_scaler(train, PREPROCESSING)


def test_snapshot_metadata_describes_windows_features_sources_and_drops(windows):
    train, test, oot, split_report = windows
    scaler = fit_scaler(train, PREPROCESSING)
    join_report = {
        "feature_rows": 1203,
        "label_rows": 1200,
        "joined_rows": 1200,
        "features_without_label": 3,
        "labels_without_features": 0,
    }
    snapshot = assemble_snapshot(
        *scale_windows(scaler, train, test, oot),
        scaler,
        PREREQUISITES,
        join_report,
        split_report,
    )

    metadata = snapshot.metadata
    n_features = len(SCALED) + len(CODED) + len(PASSTHROUGH)
    assert metadata["shapes"] == {
        "train": [840, n_features],
        "test": [240, n_features],
        "oot": [120, n_features],
    }
    assert metadata["feature_columns"] == SCALED + CODED + PASSTHROUGH
    assert metadata["target_encoded_columns"] == CODED
    assert (
        metadata["scaled_columns"] == SCALED
        and metadata["passthrough_columns"] == PASSTHROUGH
    )
    assert metadata["readmission_rate"]["oot"] == pytest.approx(
        oot["readmitted_30d"].mean()
    )
    assert metadata["temporal_splits"]["test"] == {
        "start_date": "2006-01-01",
        "end_date": "2007-12-31",
    }
    assert metadata["rows_dropped"]["features_without_label"]["rows"] == 3
    assert metadata["source"]["feature_store"] == {"path": "f"}
    assert set(metadata["library_versions"]) >= {
        "scikit-learn",
        "pandas",
        "numpy",
        "pyarrow",
        "kedro",
    }
    assert snapshot.scaler is scaler


def test_windows_of_unordered_rows_are_the_same_rows(gold, windows):
    labelled, _ = join_features_and_labels(*gold, PREREQUISITES)
    shuffled = labelled.sample(frac=1, random_state=3).reset_index(drop=True)
    for ordered, unordered in zip(
        windows[:3], split_temporal_windows(shuffled, SPLITS)[:3]
    ):
        pd.testing.assert_frame_equal(
            ordered.sort_values("encounter_id", ignore_index=True),
            unordered.sort_values("encounter_id", ignore_index=True),
        )
