"""Node-level tests of raw → silver → gold."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from diab_readmit.pipelines.data_processing.encodings import diagnosis_group
from diab_readmit.pipelines.data_processing.nodes import (
    assign_encounter_dates,
    build_feature_store,
    build_label_store,
    build_silver_encounters,
    flag_cohort,
)
from diab_readmit.pipelines.data_processing.order_audit import audit_encounter_order
from diab_readmit.pipelines.data_processing.parameter_models import (
    CohortParams,
    EncounterDatesParams,
    OrderAuditParams,
)
from diab_readmit.pipelines.data_processing.raw_schema import RawDataError

SOURCE = "data/01_raw/diabetic_data.csv"


def gold(
    raw, cohort=CohortParams(), dates=EncounterDatesParams(), audit=OrderAuditParams()
):
    silver = build_silver_encounters(raw, SOURCE)
    audited, report = audit_encounter_order(
        assign_encounter_dates(silver, dates, SOURCE), audit, dates
    )
    flagged = flag_cohort(audited, cohort)
    return build_feature_store(flagged, report), build_label_store(flagged)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda raw: raw.drop(columns=["readmitted", "age"]),
            r"missing column\(s\) \['age', 'readmitted'\]",
        ),
        (lambda raw: raw.iloc[0:0], "no rows"),
        (
            lambda raw: raw.assign(readmitted=["NO", "maybe", "<30"]),
            r"'readmitted'.*'maybe'.*line 3",
        ),
        (
            lambda raw: raw.assign(num_medications=["12", "twelve", "3"]),
            r"'num_medications'.*'twelve'",
        ),
        (
            lambda raw: raw.assign(number_inpatient=["1", "-2", "0"]),
            r"'number_inpatient'.*'-2'",
        ),
        (
            lambda raw: raw.assign(encounter_id=["7", "7", "8"]),
            r"encounter_id must be unique.*\[7\]",
        ),
        (lambda raw: raw.assign(age=["[70-80)", "70", "[0-10)"]), r"'age'.*'70'"),
    ],
)
def test_bad_raw_input_names_file_column_and_value(raw_factory, change, expected):
    raw = change(raw_factory([{}, {}, {}]))
    with pytest.raises(RawDataError, match=expected) as error:
        build_silver_encounters(raw, SOURCE)
    assert SOURCE in str(error.value)


def test_question_mark_is_missing_and_counts_are_integers(raw_factory):
    silver = build_silver_encounters(
        raw_factory([{"race": "?", "payer_code": "?"}]), SOURCE
    )
    assert silver.loc[0, "race"] is None or pd.isna(silver.loc[0, "race"])
    assert silver["num_medications"].dtype == np.int64


def test_dates_spread_evenly_in_encounter_id_order(raw_factory):
    raw = raw_factory([{}] * 600).assign(
        encounter_id=[str(i) for i in range(600, 0, -1)]
    )
    dated = assign_encounter_dates(
        build_silver_encounters(raw, SOURCE), EncounterDatesParams(), SOURCE
    )
    assert dated["encounter_id"].is_monotonic_increasing
    assert dated["encounter_date"].is_monotonic_increasing
    assert dated["encounter_date"].min() == pd.Timestamp("1999-01-01")
    assert dated["encounter_date"].max() == pd.Timestamp(
        "2008-12-25"
    )  # day 599 * 3653 // 600 = 3646
    assert dated["partition_date"].nunique() == 120  # every month of 1999..2008


def test_date_column_is_used_and_bad_dates_are_named(raw_factory):
    raw = raw_factory([{}, {}]).assign(admitted_on=["2003-05-17", "2004-01-02"])
    params = EncounterDatesParams(date_column="admitted_on")
    dated = assign_encounter_dates(build_silver_encounters(raw, SOURCE), params, SOURCE)
    assert list(dated["partition_date"].dt.strftime("%Y-%m-%d")) == [
        "2003-05-01",
        "2004-01-01",
    ]

    raw = raw.assign(admitted_on=["2003-05-17", "not a date"])
    with pytest.raises(RawDataError, match=r"'admitted_on'.*'not a date'"):
        assign_encounter_dates(build_silver_encounters(raw, SOURCE), params, SOURCE)
    with pytest.raises(RawDataError, match="'nope', which is not a column"):
        assign_encounter_dates(
            build_silver_encounters(raw, SOURCE),
            EncounterDatesParams(date_column="nope"),
            SOURCE,
        )


def test_cohort_drops_death_and_hospice_unless_told_not_to(raw_factory):
    raw = raw_factory(
        [{"discharge_disposition_id": code} for code in (1, 11, 13, 3, 20)]
    )
    features, labels = gold(raw)
    assert len(features) == len(labels) == 2
    features, labels = gold(raw, cohort=CohortParams(exclude_discharge_dispositions=[]))
    assert len(features) == 5


def test_feature_store_columns_are_numeric_without_missing_values(raw_factory):
    raw = raw_factory(
        [{"race": "?", "diag_1": "?", "medical_specialty": "Cardiology"}, {}]
    )
    features, labels = gold(raw)
    model_inputs = features.drop(
        columns=[
            "encounter_id",
            "patient_nbr",
            "encounter_date",
            "partition_date",
            "diag_1",
            "diag_2",
            "diag_3",
        ]
    )
    assert (model_inputs.dtypes == np.float32).all()
    assert not model_inputs.isna().any().any()
    for seed_feature in (
        "age_midpoint",
        "admission_severity_score",
        "admission_source_risk_score",
        "metformin_ord",
        "insulin_ord",
        "severity_x_visits",
        "medication_density",
    ):
        assert seed_feature in model_inputs
    assert (
        features.loc[0, "race_missing"] == 1
        and features.loc[0, "specialty_cardiology"] == 1
    )
    assert list(labels.columns) == ["encounter_id", "partition_date", "readmitted_30d"]


def test_labels_are_one_only_for_readmission_within_30_days(raw_factory):
    _, labels = gold(raw_factory([{"readmitted": v} for v in ("NO", ">30", "<30")]))
    assert labels["readmitted_30d"].tolist() == [0, 0, 1]


def test_diagnosis_groups_cover_icd9_chapters():
    codes = pd.Series(["250.83", "428", "V57", "E909", "486", None, "038", "999"])
    assert diagnosis_group(codes).tolist() == [
        "diabetes",
        "circulatory",
        "supplementary",
        "external",
        "respiratory",
        "missing",
        "infectious",
        "injury",
    ]


def _history_of(features: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in features.columns if c.startswith("hist_")]
    return features.set_index("encounter_id")[columns]


def test_history_features_never_see_later_encounters(raw_factory):
    """An encounter's history is unchanged when every later encounter is removed."""
    rng = np.random.default_rng(7)
    n = 400
    rows = [
        {
            "patient_nbr": int(rng.integers(0, 60)),
            "readmitted": str(rng.choice(["NO", ">30", "<30"])),
            "number_inpatient": int(rng.integers(0, 5)),
            "time_in_hospital": int(rng.integers(1, 14)),
            "discharge_disposition_id": int(rng.choice([1, 3, 6])),
        }
        for _ in range(n)
    ]
    raw = raw_factory(rows)
    dates = EncounterDatesParams(date_column="admitted_on")
    raw["admitted_on"] = pd.Timestamp("2000-01-01") + pd.to_timedelta(
        np.sort(rng.integers(0, 3000, n)), "D"
    )
    raw["admitted_on"] = raw["admitted_on"].dt.strftime("%Y-%m-%d")
    full = _history_of(gold(raw, dates=dates)[0])
    assert full["hist_prior_encounters"].max() > 3  # the test data really has histories

    for cut in (50, 200, 333):
        cut_date = raw.loc[cut, "admitted_on"]
        earlier = raw[
            (raw["admitted_on"] < cut_date)
            | ((raw["admitted_on"] == cut_date) & (raw.index <= cut))
        ]
        partial = _history_of(gold(earlier.reset_index(drop=True), dates=dates)[0])
        pd.testing.assert_frame_equal(partial, full.loc[partial.index])


def test_history_counts_prior_encounters_and_readmissions(raw_factory):
    raw = raw_factory(
        [
            {"patient_nbr": 1, "readmitted": "<30", "number_inpatient": 0},
            {"patient_nbr": 2},
            {"patient_nbr": 1, "readmitted": ">30", "number_inpatient": 2},
            {"patient_nbr": 1, "number_inpatient": 1},
        ]
    )
    features = gold(
        raw,
        dates=EncounterDatesParams(
            start_date=dt.date(2000, 1, 1), end_date=dt.date(2000, 1, 31)
        ),
    )[0]
    patient = features[features["patient_nbr"] == 1].sort_values("encounter_id")
    assert patient["hist_prior_encounters"].tolist() == [0, 1, 2]
    assert patient["hist_prior_readmit_30d"].tolist() == [0, 1, 1]
    assert patient["hist_prior_readmit_any"].tolist() == [0, 1, 2]
    assert patient["hist_last_readmit_30d"].tolist() == [0, 1, 0]
    assert patient["hist_prev_number_inpatient"].tolist() == [-1, 0, 2]
    assert patient["hist_max_number_inpatient"].tolist() == [-1, 0, 2]


def _gold_of_synthetic(scrambled_share: float, n_encounters: int = 20000):
    """Gold features and the audit of a synthetic file, through the data_processing nodes."""
    import io

    from diab_readmit.pipelines.synthetic.nodes import generate_encounters
    from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams

    frame = generate_encounters(
        SyntheticParams(
            n_encounters=n_encounters, seed=5, scrambled_share=scrambled_share
        )
    )
    raw = pd.read_csv(
        io.StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False
    )
    dates = EncounterDatesParams()
    audited, report = audit_encounter_order(
        assign_encounter_dates(build_silver_encounters(raw, SOURCE), dates, SOURCE),
        OrderAuditParams(),
        dates,
    )
    everything = flag_cohort(audited, CohortParams(exclude_discharge_dispositions=[]))
    return build_feature_store(everything, report), everything, report


def test_order_audit_finds_nothing_in_a_file_in_admission_order():
    features, _, report = _gold_of_synthetic(0.0)
    assert report["unreliable_segments"] == [] and not report["history_restricted"]
    assert (
        report["overall_contradiction_rate"] < 0.03
    )  # the generator: ~1.5% of patients return after NO
    assert features.attrs["order_audit"] == report


def test_scrambled_ids_are_flagged_and_history_never_counts_the_same_segment():
    """The real file's defect: the last 10% of ids out of admission order (fails on 7354d97)."""
    features, encounters, report = _gold_of_synthetic(0.1)
    # The last 10% of a 20-segment audit is segments 19 and 20: both flagged, nothing else.
    assert report["unreliable_segments"] == [19, 20]
    assert report["history_restricted"]
    flagged = {row["segment"]: row for row in report["segments"]}
    assert (
        flagged[20]["contradiction_rate"] > 0.05
        and flagged[18]["contradiction_rate"] < 0.01
    )

    # Expected prior count: the patient's encounters in reliable segments before this one.
    segment = encounters.set_index("encounter_id")["order_segment"]
    position = pd.Series(np.arange(len(encounters)), index=encounters["encounter_id"])
    reliable = ~segment.isin(report["unreliable_segments"])
    rows = features.assign(
        segment=segment.loc[features["encounter_id"]].to_numpy(),
        position=position.loc[features["encounter_id"]].to_numpy(),
    )
    by_patient = pd.DataFrame(
        {
            "patient_nbr": encounters["patient_nbr"].to_numpy(),
            "position": np.arange(len(encounters)),
            "reliable": reliable.to_numpy(),
        }
    )
    usable = by_patient[by_patient["reliable"]]
    merged = rows[["encounter_id", "patient_nbr", "position"]].merge(
        usable, on="patient_nbr", suffixes=("", "_prior")
    )
    expected = (
        (merged["position_prior"] < merged["position"])
        .groupby(merged["encounter_id"])
        .sum()
    )
    expected = expected.reindex(rows["encounter_id"], fill_value=0).to_numpy()
    np.testing.assert_array_equal(rows["hist_prior_encounters"].to_numpy(), expected)

    in_flagged = rows["segment"].isin(report["unreliable_segments"]).to_numpy()
    same_segment_pairs = rows[in_flagged].merge(
        rows[in_flagged], on=["patient_nbr", "segment"]
    )
    assert (
        same_segment_pairs["encounter_id_x"] != same_segment_pairs["encounter_id_y"]
    ).any()  # there were some
    # ... and none of them is counted: the flagged rows' counts equal the reliable-only counts above.
    assert "hist_days_since_last" not in features.columns  # ranks are not days


def test_with_a_date_column_dates_decide_and_same_day_stays_are_not_prior(raw_factory):
    raw = raw_factory(
        [
            {"patient_nbr": 1, "readmitted": "<30"},
            {"patient_nbr": 1, "readmitted": "<30"},
            {"patient_nbr": 1, "readmitted": "NO"},
            {"patient_nbr": 1, "readmitted": "NO"},
        ]
    )
    # The last id has the earliest date: the date decides, not the id; two stays share a day.
    raw["admitted_on"] = ["2001-03-01", "2001-03-20", "2001-03-20", "2001-01-05"]
    features = gold(raw, dates=EncounterDatesParams(date_column="admitted_on"))[
        0
    ].set_index("encounter_id")
    assert features["hist_prior_encounters"].to_dict() == {
        1000: 1,
        1001: 2,
        1002: 2,
        1003: 0,
    }
    assert features["hist_days_since_last"].to_dict() == {
        1000: 55,
        1001: 19,
        1002: 19,
        1003: 3650,
    }
    assert features["hist_prior_encounters_365d"].to_dict() == {
        1000: 1,
        1001: 2,
        1002: 2,
        1003: 0,
    }


def test_the_cohort_log_reads_as_numbers(caplog):
    """Issue 25 item 8: not ``{np.int64(11): 1605, ...}``."""
    caplog.set_level("INFO")
    dated = pd.DataFrame({"discharge_disposition_id": [1, 11, 11, 13, 1]})
    flag_cohort(dated, CohortParams())
    (line,) = [r.getMessage() for r in caplog.records if "Cohort:" in r.getMessage()]
    assert line == (
        "Cohort: excluding 3 of 5 encounters by discharge disposition (11: 2, 13: 1)"
    )
