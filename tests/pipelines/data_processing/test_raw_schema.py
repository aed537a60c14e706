"""Ids and counts are plain digits that fit in int64 (issue 13, failure 4): on 7354d97
``99999999999999999999`` became -9223372036854775808 and ``1e3`` / ``12.0`` became 1000 / 12."""

from __future__ import annotations

import pytest

from diab_readmit.pipelines.data_processing.raw_schema import (
    RawDataError,
    type_raw_encounters,
)

SOURCE = "data/01_raw/diabetic_data.csv"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("num_medications", "99999999999999999999"),
        ("encounter_id", "1e3"),
        ("encounter_id", "12.0"),
        ("number_inpatient", "+3"),
        ("admission_type_id", "1.5"),
    ],
)
def test_out_of_range_and_non_integer_numbers_are_refused_with_column_value_and_line(
    raw_factory, column, value
):
    raw = raw_factory([{}, {column: value}, {}])
    with pytest.raises(RawDataError) as error:
        type_raw_encounters(raw, SOURCE)
    message = str(error.value)
    assert (
        f"column '{column}'" in message
        and repr(value) in message
        and "line 3" in message
    )
    assert SOURCE in message


def test_the_largest_allowed_numbers_are_kept_exactly(raw_factory):
    raw = raw_factory(
        [
            {"encounter_id": "999999999999999999", "num_medications": "7"},
            {"admission_type_id": "?"},
        ]
    )
    silver = type_raw_encounters(raw, SOURCE)
    assert silver["encounter_id"].tolist()[0] == 999_999_999_999_999_999
    assert (
        str(silver["encounter_id"].dtype) == "int64"
        and silver["num_medications"].iloc[0] == 7
    )
    assert silver["admission_type_id"].isna().tolist() == [False, True]
