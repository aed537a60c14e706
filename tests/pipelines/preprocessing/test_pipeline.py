"""The preprocessing pipeline: its wiring, and real Kedro runs in a scratch project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable
from kedro.validation.exceptions import ParameterValidationError

from diab_readmit.pipelines.preprocessing import create_pipeline
from diab_readmit.pipelines.preprocessing.prerequisites import PrerequisiteError

from .conftest import SCALED, make_gold

CHECKS = [
    "preprocessing.check_model_config",
    "preprocessing.check_gold_data_exists",
    "preprocessing.check_sufficient_training_data",
]
SHARED = {
    "feature_store@frame",
    "label_store@frame",
    "feature_store@index",
    "label_store@index",
}
PARAMS = {
    "params:temporal_splits",
    "params:training_config",
    "params:preprocessing",
    "params:preprocessing.min_partitions",
}


def test_pipeline_is_namespaced_with_shared_names_unprefixed():
    pipeline = create_pipeline()
    assert pipeline.inputs() == SHARED | PARAMS
    assert pipeline.outputs() == {"preprocessed_snapshot"}
    assert all(node.namespace == "preprocessing" for node in pipeline.nodes)
    internal = pipeline.all_outputs() - {"preprocessed_snapshot"}
    assert all(name.startswith("preprocessing.") for name in internal)


def test_every_node_reading_gold_data_runs_after_all_checks():
    pipeline = create_pipeline()
    readers = pipeline.only_nodes_with_inputs(
        "feature_store@frame", "label_store@frame"
    ).nodes
    assert readers
    for reader in readers:
        upstream = {node.name for node in pipeline.to_nodes(reader.name).nodes}
        assert set(CHECKS) <= upstream, f"{reader.name} could run before a check"
    everything_after_checks = set(CHECKS) | {
        n.name for n in pipeline.from_nodes(*CHECKS).nodes
    }
    assert everything_after_checks == {n.name for n in pipeline.nodes}


def test_every_dataset_is_declared_with_a_layer(project):
    catalog = project.catalog()
    for name in create_pipeline().datasets() - PARAMS:
        layer = catalog.get(name).metadata["kedro-viz"]["layer"]
        assert layer, name
    assert catalog.get("preprocessing.train_rows")._copy_mode == "assign"


def _corrupt(store) -> None:
    """Overwrite one data file: any node that loads the store would fail on it."""
    files = DeltaTable(str(store)).file_uris()
    Path(files[0].removeprefix("file://")).write_bytes(b"not parquet")


def _nothing_written(project) -> bool:
    return not project.preprocessed.exists() or not any(project.preprocessed.iterdir())


@pytest.mark.slow
def test_run_writes_a_snapshot_with_train_only_scaling(project):
    features, labels = make_gold(rows_per_month=6)
    project.write_gold(features, labels)
    project.run()

    snapshot = project.snapshots().load()
    assert (
        project.preprocessed / "latest.txt"
    ).read_text().strip() == snapshot.snapshot_id
    metadata = snapshot.metadata
    assert metadata["shapes"]["train"] == [84 * 6, len(metadata["feature_columns"])]
    assert [len(snapshot.window(w)) for w in ("train", "test", "oot")] == [
        84 * 6,
        24 * 6,
        12 * 6,
    ]
    assert metadata["source"]["feature_store"]["partition_count"] == 120
    assert metadata["source"]["feature_store"]["path"] == str(project.feature_store)

    train_gold = features[features["partition_date"] <= "2005-12-31"]
    standard = snapshot.scaler.named_transformers_["scaled"]
    np.testing.assert_allclose(
        standard.mean_, train_gold[SCALED].mean().to_numpy(), rtol=1e-5
    )
    # The stored scaler turns gold rows into exactly the stored matrix.
    oot_gold = features[features["partition_date"] >= "2008-01-01"]
    rescored = snapshot.scaler.transform(oot_gold)
    np.testing.assert_allclose(
        rescored.to_numpy(),
        snapshot.oot[metadata["feature_columns"]].to_numpy(),
        rtol=1e-6,
    )


@pytest.mark.slow
def test_missing_gold_data_stops_before_anything_else(project):
    with pytest.raises(PrerequisiteError) as caught:
        project.run()
    message = str(caught.value)
    assert f"the feature store at {project.feature_store} does not exist" in message
    assert f"the label store at {project.label_store} does not exist" in message
    assert "Run `kedro run --pipelines data_processing` first." in message
    assert _nothing_written(project)


@pytest.mark.slow
def test_a_corrupted_store_is_noticed_when_read(project):
    """The control for the tests below: they corrupt the store to prove it was never read."""
    project.write_gold(*make_gold("2005-01-01", "2008-12-01", rows_per_month=3))
    _corrupt(project.feature_store)
    with pytest.raises(Exception, match="is not a readable parquet file"):
        project.run()


@pytest.mark.slow
def test_too_few_partitions_stops_before_gold_data_is_read(project):
    project.write_gold(*make_gold("2005-01-01", "2008-12-01", rows_per_month=3))
    _corrupt(project.feature_store)
    with pytest.raises(
        PrerequisiteError,
        match=r"has 48 non-empty monthly partition\(s\) .* fewer than preprocessing.min_partitions = 60",
    ):
        project.run({"preprocessing": {"min_partitions": 60}})
    assert _nothing_written(project)


@pytest.mark.slow
def test_windows_cut_mid_month_stop_before_gold_data_is_read(project):
    project.write_gold(*make_gold("2005-01-01", "2008-12-01", rows_per_month=3))
    _corrupt(project.feature_store)
    with pytest.raises(
        PrerequisiteError,
        match=r"temporal_splits.oot.end_date = 2008-12-15 is not the last day of a month",
    ):
        project.run({"temporal_splits": {"oot": {"end_date": "2008-12-15"}}})
    assert _nothing_written(project)


@pytest.mark.slow
def test_invalid_typed_parameters_stop_the_run_before_any_node(project):
    project.write_gold(*make_gold("2005-01-01", "2008-12-01", rows_per_month=3))
    _corrupt(project.feature_store)
    with pytest.raises(ParameterValidationError) as caught:
        project.run({"temporal_splits": {"test": {"start_date": "2008-02-01"}}})
    message = str(caught.value)
    assert "Parameter 'temporal_splits'" in message
    assert (
        "test\n  Value error, start_date 2008-02-01 is after end_date 2007-12-31"
        in message
    )
    assert _nothing_written(project)


@pytest.mark.slow
def test_window_without_data_names_the_window(project):
    project.write_gold(*make_gold("2005-01-01", "2007-12-01", rows_per_month=3))
    with pytest.raises(
        Exception,
        match=r"temporal window 'oot' \(2008-01-01 \.\. 2008-12-31; temporal_splits.oot\) has no rows",
    ):
        project.run()
    assert not (project.preprocessed / "latest.txt").exists()


@pytest.mark.slow
def test_pinned_snapshot_through_the_catalog(project):
    project.write_gold(*make_gold("2005-01-01", "2008-12-01", rows_per_month=3))
    project.run()
    project.run({"temporal_splits": {"train": {"start_date": "2005-07-01"}}})
    first, second = project.snapshots().snapshot_ids()

    assert project.catalog().load("preprocessed_snapshot").snapshot_id == second
    pinned = project.catalog({"snapshot_id": first}).load("preprocessed_snapshot")
    assert pinned.snapshot_id == first
    assert len(pinned.train) == 12 * 3


@pytest.mark.slow
def test_windows_shifted_with_params_on_the_command_line(project):
    features, labels = make_gold("2004-01-01", "2008-12-01", rows_per_month=3)
    project.write_gold(features, labels)
    shifted = (
        "temporal_splits.train.start_date=2004-01-01,temporal_splits.train.end_date=2006-06-30,"
        "temporal_splits.test.start_date=2006-07-01,temporal_splits.test.end_date=2007-06-30,"
        "temporal_splits.oot.start_date=2007-07-01"
    )
    project.scratch.run("--pipelines", "preprocessing", "--params", shifted)

    snapshot = project.snapshots().load()
    bounds = {
        w: (
            snapshot.window(w)["partition_date"].min(),
            snapshot.window(w)["partition_date"].max(),
        )
        for w in ("train", "test", "oot")
    }
    assert bounds == {
        "train": (pd.Timestamp("2004-01-01"), pd.Timestamp("2006-06-01")),
        "test": (pd.Timestamp("2006-07-01"), pd.Timestamp("2007-06-01")),
        "oot": (pd.Timestamp("2007-07-01"), pd.Timestamp("2008-12-01")),
    }
    assert snapshot.metadata["temporal_splits"]["train"] == {
        "start_date": "2004-01-01",
        "end_date": "2006-06-30",
    }
    train_gold = features[
        features["partition_date"].between("2004-01-01", "2006-06-30")
    ]
    standard = snapshot.scaler.named_transformers_["scaled"]
    np.testing.assert_allclose(
        standard.mean_, train_gold[SCALED].mean().to_numpy(), rtol=1e-5
    )
