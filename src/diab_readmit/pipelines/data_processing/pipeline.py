"""raw → silver → gold: the `data_processing` pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    assign_encounter_dates,
    build_feature_store,
    build_label_store,
    build_silver_encounters,
    flag_cohort,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_silver_encounters,
                inputs=["raw_encounters", "params:raw_encounters_location"],
                outputs="silver_encounters",
                name="build_silver_encounters",
            ),
            Node(
                assign_encounter_dates,
                inputs=["silver_encounters", "params:encounter_dates", "params:raw_encounters_location"],
                outputs="dated_encounters",
                name="assign_encounter_dates",
            ),
            Node(
                flag_cohort,
                inputs=["dated_encounters", "params:cohort"],
                outputs="cohort_encounters",
                name="flag_cohort",
            ),
            Node(
                build_feature_store,
                inputs="cohort_encounters",
                outputs="feature_store@frame",
                name="build_feature_store",
            ),
            Node(
                build_label_store,
                inputs="cohort_encounters",
                outputs="label_store@frame",
                name="build_label_store",
            ),
        ],
        namespace="data_processing",
        inputs={"raw_encounters"},
        outputs={"feature_store@frame", "label_store@frame"},
        parameters={"params:raw_encounters_location", "params:encounter_dates", "params:cohort"},
    )
