"""raw → silver → gold: the `data_processing` pipeline."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    assign_encounter_dates,
    build_feature_store,
    build_label_store,
    build_silver_encounters,
    flag_cohort,
)
from .order_audit import audit_encounter_order, draw_order_audit, order_audit_table


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
                inputs=[
                    "silver_encounters",
                    "params:encounter_dates",
                    "params:raw_encounters_location",
                ],
                outputs="dated_encounters",
                name="assign_encounter_dates",
            ),
            Node(
                audit_encounter_order,
                inputs=[
                    "dated_encounters",
                    "params:order_audit",
                    "params:encounter_dates",
                ],
                outputs=["audited_encounters", "order_audit_report"],
                name="audit_encounter_order",
            ),
            Node(
                order_audit_table,
                inputs="order_audit_report",
                outputs="order_audit_table",
                name="order_audit_table",
            ),
            Node(
                draw_order_audit,
                inputs="order_audit_report",
                outputs="order_audit_chart",
                name="draw_order_audit",
            ),
            Node(
                flag_cohort,
                inputs=["audited_encounters", "params:cohort"],
                outputs="cohort_encounters",
                name="flag_cohort",
            ),
            Node(
                build_feature_store,
                inputs=["cohort_encounters", "order_audit_report"],
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
        parameters={
            "params:raw_encounters_location",
            "params:encounter_dates",
            "params:order_audit",
            "params:cohort",
        },
    )
