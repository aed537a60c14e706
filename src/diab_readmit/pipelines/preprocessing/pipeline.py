"""Prerequisite checks → join → temporal windows → scaler → snapshot: the `preprocessing` pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    assemble_snapshot,
    fit_scaler,
    join_features_and_labels,
    scale_windows,
    split_temporal_windows,
)
from .prerequisites import (
    check_gold_data_exists,
    check_model_config,
    check_sufficient_training_data,
    record_prerequisites,
)


def create_pipeline(**kwargs) -> Pipeline:
    checks = [
        Node(
            check_model_config,
            inputs=[
                "params:temporal_splits",
                "params:training_config",
                "params:preprocessing",
            ],
            outputs="model_config",
            name="check_model_config",
        ),
        Node(
            check_gold_data_exists,
            inputs=["feature_store@index", "label_store@index"],
            outputs="gold_sources",
            name="check_gold_data_exists",
        ),
        Node(
            check_sufficient_training_data,
            inputs=["feature_store@index", "params:preprocessing.min_partitions"],
            outputs="partition_count",
            name="check_sufficient_training_data",
        ),
        Node(
            record_prerequisites,
            inputs=["model_config", "gold_sources", "partition_count"],
            outputs="prerequisites",
            name="record_prerequisites",
        ),
    ]
    snapshot = [
        Node(
            join_features_and_labels,
            inputs=["feature_store@frame", "label_store@frame", "prerequisites"],
            outputs=["labelled_encounters", "join_report"],
            name="join_features_and_labels",
        ),
        Node(
            split_temporal_windows,
            inputs=["labelled_encounters", "params:temporal_splits"],
            outputs=["train_rows", "test_rows", "oot_rows", "split_report"],
            name="split_temporal_windows",
        ),
        Node(
            fit_scaler,
            inputs=["train_rows", "params:preprocessing"],
            outputs="scaler",
            name="fit_scaler",
        ),
        Node(
            scale_windows,
            inputs=["scaler", "train_rows", "test_rows", "oot_rows"],
            outputs=["train_scaled", "test_scaled", "oot_scaled"],
            name="scale_windows",
        ),
        Node(
            assemble_snapshot,
            inputs=[
                "train_scaled",
                "test_scaled",
                "oot_scaled",
                "scaler",
                "prerequisites",
                "join_report",
                "split_report",
            ],
            outputs="preprocessed_snapshot",
            name="assemble_snapshot",
        ),
    ]
    return Pipeline(
        checks + snapshot,
        namespace="preprocessing",
        inputs={
            "feature_store@frame",
            "label_store@frame",
            "feature_store@index",
            "label_store@index",
        },
        outputs={"preprocessed_snapshot"},
        parameters={
            "params:temporal_splits",
            "params:training_config",
            "params:preprocessing",
            "params:preprocessing.min_partitions",
        },
    )
