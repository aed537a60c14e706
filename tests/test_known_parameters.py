"""known_parameters: a parameter key no node reads is an error naming the nearest valid key,
and a ``*_location`` parameter that cannot move the file read is refused."""

from __future__ import annotations

import pytest
from kedro.framework.project import pipelines

from diab_readmit.known_parameters import (
    IneffectiveParameterError,
    UnknownParameterError,
    catalog_runtime_parameters,
    check_locations,
    check_parameter_keys,
    parameter_files,
    parameter_types,
)
from tests.conftest import PROJECT


@pytest.fixture(scope="module")
def known():
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    return parameter_types(n for p in pipelines.values() for n in p.nodes)


@pytest.fixture(scope="module")
def configured():
    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(
        str(PROJECT / "conf"), base_env="base", default_run_env="local"
    )
    return loader["parameters"], loader["catalog"]


def test_every_configured_key_is_read_by_a_node(known, configured):
    parameters, catalog = configured
    check_parameter_keys(parameters, known, "conf")
    check_locations(parameters, catalog)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {"temporal_split": {"test": {"end_date": "2007-06-30"}}},
            "Unknown parameter temporal_split.test.end_date in --params: no node reads "
            "it; did you mean temporal_splits.test.end_date?",
        ),
        (
            {"temporal_splits": {"tset": {"end_date": "2007-06-30"}}},
            "did you mean temporal_splits.test.end_date?",
        ),
        (
            {"xgboost": {"search": {"serch_fraction": 0.5}}},
            "did you mean xgboost.search.search_fraction?",
        ),
        (
            {"trust": {"groups": {"payer": {"colum": "payer"}}}},
            "trust.groups.payer.column?",
        ),
        ({"preprocessing": {"min_partition": 3}}, "preprocessing.min_partitions?"),
        ({"engine": {"worker": 3}}, "engine.workers?"),
        ({"zzz": 1}, "valid keys: cohort, encounter_dates, engine, inference,"),
    ],
)
def test_an_unknown_key_names_the_nearest_valid_one(known, parameters, expected):
    with pytest.raises(UnknownParameterError) as raised:
        check_parameter_keys(parameters, known, "--params")
    assert expected in str(raised.value)


def test_free_form_blocks_take_any_key(known):
    check_parameter_keys(
        {
            "xgboost": {"estimator": {"params": {"max_bin": 128}}},
            "random_forest": {"search": {"space": {"criterion": ["gini"]}}},
            "training_config": {"enabled_algorithms": {"xgboost": True}},
        },
        known,
        "--params",
    )


def test_a_file_is_named_as_the_source_of_a_bad_key(known, tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "parameters_x.yml").write_text("cohortt:\n  a: 1\n")
    files = parameter_files(str(tmp_path), ["base"])

    with pytest.raises(UnknownParameterError, match=r"in .*base/parameters_x\.yml"):
        check_parameter_keys({"cohortt": {"a": 1}}, known, files)


def test_a_location_parameter_that_cannot_move_the_file_is_refused():
    catalog = {"raw_encounters": {"filepath": "data/01_raw/diabetic_data.csv"}}
    check_locations(
        {"raw_encounters_location": "data/01_raw/diabetic_data.csv"}, catalog
    )

    with pytest.raises(IneffectiveParameterError) as raised:
        check_locations({"raw_encounters_location": "elsewhere.csv"}, catalog)
    assert str(raised.value).startswith(
        "raw_encounters_location=elsewhere.csv cannot take effect: the catalog dataset "
        "raw_encounters reads data/01_raw/diabetic_data.csv"
    )


def test_keys_the_catalog_reads_from_params_are_known(known):
    from_catalog = catalog_runtime_parameters(str(PROJECT / "conf"), ["base", "local"])
    assert {"snapshot_id", "snapshot_lazy_min_rows"} <= set(from_catalog)
    check_parameter_keys(
        {"snapshot_id": "train_data_20250101_120000", "snapshot_lazy_min_rows": 10},
        {**known, **from_catalog},
        "--params",
    )
