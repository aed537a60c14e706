"""raw → silver → gold: the `data_processing` pipeline.

With ``DIAB_ENGINE=dask`` (see ``diab_readmit.engine``) the raw file is read in blocks and the
feature store is built per partition of whole patients (``dask_engine``); the other nodes
are the same and run on the narrow columns they read.
"""

from kedro.pipeline import Node, Pipeline

from diab_readmit.engine import selected_engine

from .nodes import (
    assign_encounter_dates,
    build_feature_store,
    build_label_store,
    build_silver_encounters,
    flag_cohort,
)
from .order_audit import audit_encounter_order, draw_order_audit, order_audit_table


def create_pipeline(**kwargs) -> Pipeline:
    if selected_engine() == "dask":
        return _on_dask()
    return Pipeline(
        [
            Node(
                build_silver_encounters,
                inputs=["raw_encounters", "params:raw_encounters_location"],
                outputs="silver_encounters",
                name="build_silver_encounters",
            ),
            *_dates_audit_and_cohort(),
            Node(
                build_feature_store,
                inputs=[
                    "cohort_encounters",
                    "order_audit_report",
                    "raw_encounters_provenance",
                ],
                outputs="feature_store@frame",
                name="build_feature_store",
            ),
            _label_store(),
        ],
        namespace="data_processing",
        inputs={"raw_encounters", "raw_encounters_provenance"},
        outputs={"feature_store@frame", "label_store@frame"},
        parameters=_PARAMETERS,
    )


_PARAMETERS = {
    "params:raw_encounters_location",
    "params:encounter_dates",
    "params:order_audit",
    "params:cohort",
}


def _on_dask() -> Pipeline:
    from .dask_engine import (
        build_feature_store_by_patient,
        collect_order_columns,
        type_raw_blocks,
    )

    return Pipeline(
        [
            Node(
                type_raw_blocks,
                inputs=["raw_encounters_blocks", "params:raw_encounters_location"],
                outputs="silver_blocks",
                name="type_raw_blocks",
            ),
            Node(
                collect_order_columns,
                inputs=[
                    "silver_blocks",
                    "params:encounter_dates",
                    "params:raw_encounters_location",
                ],
                outputs="silver_encounters",
                name="collect_order_columns",
            ),
            *_dates_audit_and_cohort(),
            Node(
                build_feature_store_by_patient,
                inputs=[
                    "silver_blocks",
                    "cohort_encounters",
                    "order_audit_report",
                    "params:engine",
                    "params:raw_encounters_location",
                    "raw_encounters_provenance",
                ],
                outputs="feature_store@frame",
                name="build_feature_store_by_patient",
            ),
            _label_store(),
        ],
        namespace="data_processing",
        inputs={"raw_encounters_blocks", "raw_encounters_provenance"},
        outputs={"feature_store@frame", "label_store@frame"},
        parameters={*_PARAMETERS, "params:engine"},
    )


def _label_store() -> Node:
    return Node(
        build_label_store,
        inputs="cohort_encounters",
        outputs="label_store@frame",
        name="build_label_store",
    )


def _dates_audit_and_cohort() -> list[Node]:
    return [
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
    ]
