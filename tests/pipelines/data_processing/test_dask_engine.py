"""The Dask engine builds the same gold stores as the pandas path, on a real LocalCluster."""

from __future__ import annotations

import dask.dataframe as dd
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from diab_readmit.datasets.delta_store import store_pair
from diab_readmit.datasets.delta_views import DeltaTableIndex
from diab_readmit.datasets.gold_validators import (
    FeatureStoreValidator,
    LabelStoreValidator,
)
from diab_readmit.datasets.table_pairs import start_new_run
from diab_readmit.engine import EngineParams
from diab_readmit.pipelines.data_processing.dask_engine import (
    OrderLookup,
    build_feature_store_by_patient,
    collect_order_columns,
    type_raw_blocks,
)
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
from diab_readmit.pipelines.synthetic.nodes import generate_encounters
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams

READ = {"dtype": str, "keep_default_na": False}


@pytest.fixture(scope="module")
def raw_csv(tmp_path_factory):
    """A synthetic file whose last 10% of ids are scrambled (unreliable order segments)."""
    frame = generate_encounters(
        SyntheticParams(n_encounters=4000, seed=3, scrambled_share=0.1)
    )
    path = tmp_path_factory.mktemp("raw") / "diabetic_data.csv"
    frame.to_csv(path, index=False)
    return path


def _on_pandas(raw, dates, audit, cohort):
    silver = build_silver_encounters(raw, "raw.csv")
    dated = assign_encounter_dates(silver, dates, "raw.csv")
    audited, report = audit_encounter_order(dated, audit, dates)
    flagged = flag_cohort(audited, cohort)
    return build_feature_store(flagged, report), build_label_store(flagged)


def _on_dask(blocks, dates, audit, cohort, engine):
    silver = type_raw_blocks(blocks, "raw.csv")
    narrow = collect_order_columns(silver, dates, "raw.csv")
    dated = assign_encounter_dates(narrow, dates, "raw.csv")
    audited, report = audit_encounter_order(dated, audit, dates)
    flagged = flag_cohort(audited, cohort)
    features = build_feature_store_by_patient(
        silver, flagged, report, engine, "raw.csv"
    )
    return features, build_label_store(flagged)


def _saved_and_loaded(tmp_path, features, labels):
    """Through the catalog's validators and the stores' pair commit, as a run does."""
    start_new_run()
    feature_store, label_store = store_pair(
        str(tmp_path / "feature_store"), str(tmp_path / "label_store")
    )
    feature_store.save(FeatureStoreValidator().validate(features))
    label_store.save(LabelStoreValidator().validate(labels))
    index = DeltaTableIndex(path=str(tmp_path / "feature_store")).load()
    return feature_store.load(), label_store.load(), index


@pytest.mark.parametrize(
    "date_column", [None, pytest.param("admitted_on", marks=pytest.mark.slow)]
)
def test_dask_gold_stores_equal_the_pandas_ones(client, raw_csv, tmp_path, date_column):
    raw = pd.read_csv(raw_csv, **READ)
    if date_column is not None:
        # Real dates, not in encounter_id order, with same-day stays of one patient.
        days = pd.Timestamp("2001-01-01") + pd.to_timedelta(
            (raw.index.to_numpy() * 7919) % 900, unit="D"
        )
        raw[date_column] = days.strftime("%Y-%m-%d")
        raw_path = tmp_path / "dated.csv"
        raw.to_csv(raw_path, index=False)
        raw = pd.read_csv(raw_path, **READ)
    else:
        raw_path = raw_csv
    dates = EncounterDatesParams(date_column=date_column)
    audit, cohort = OrderAuditParams(), CohortParams()
    # Small blocks: the file is read in several, patients spread over all of them.
    blocks = dd.read_csv(raw_path, blocksize=150_000, **READ)
    assert blocks.npartitions >= 3

    pandas_gold = _saved_and_loaded(
        tmp_path / "pandas", *_on_pandas(raw, dates, audit, cohort)
    )
    dask_gold = _saved_and_loaded(
        tmp_path / "dask",
        *_on_dask(blocks, dates, audit, cohort, EngineParams(partitions=5)),
    )

    for on_pandas, on_dask in zip(pandas_gold[:2], dask_gold[:2], strict=True):
        assert len(on_pandas) > 3000
        assert_frame_equal(on_dask, on_pandas, check_exact=True)
    pandas_manifest, dask_manifest = pandas_gold[2], dask_gold[2]
    assert dask_manifest["attrs"] == pandas_manifest["attrs"]
    assert [(p["partition"], p["rows"]) for p in dask_manifest["partitions"]] == [
        (p["partition"], p["rows"]) for p in pandas_manifest["partitions"]
    ]
    if date_column is None:
        assert pandas_manifest["attrs"]["order_audit"]["history_restricted"]


def test_duplicate_ids_across_blocks_are_refused(client, raw_csv, tmp_path):
    raw = pd.read_csv(raw_csv, **READ)
    doubled = pd.concat([raw, raw.iloc[[0]]])
    path = tmp_path / "doubled.csv"
    doubled.to_csv(path, index=False)
    silver = type_raw_blocks(
        dd.read_csv(path, blocksize=150_000, **READ), "doubled.csv"
    )
    with pytest.raises(RawDataError, match=r"doubled.csv: encounter_id must be unique"):
        collect_order_columns(silver, EncounterDatesParams(), "doubled.csv")


def test_a_file_changed_between_its_two_reads_is_refused(raw_csv):
    dates, audit = EncounterDatesParams(), OrderAuditParams()
    silver = build_silver_encounters(pd.read_csv(raw_csv, **READ), "raw.csv")
    dated = assign_encounter_dates(silver, dates, "raw.csv")
    flagged = flag_cohort(audit_encounter_order(dated, audit, dates)[0], CohortParams())
    lookup = OrderLookup(flagged, "raw.csv")
    assert len(lookup.rows_of(silver.head(50))) == 50
    moved = silver.head(50).copy()
    moved.loc[moved.index[3], "patient_nbr"] += 1
    with pytest.raises(RawDataError, match=r"raw.csv: 1 encounter\(s\).*changed while"):
        lookup.rows_of(moved)
