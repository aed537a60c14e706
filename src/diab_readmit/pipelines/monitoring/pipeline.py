"""The `monitoring` pipeline: each scored month against the model that scored it.

Reads what `inference` writes (``inference.predictions``, ``inference.scored_features``),
the gold stores (the model's train window, and outcomes as they arrive) and the registry
(``model_registry_versions``); writes ``monitoring_status.json`` for a scheduler and
``monitoring_report.html`` for people.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from .nodes import (
    choose_monitored_model,
    decide_status,
    draw_monitoring_charts,
    estimate_performance,
    measure_drift,
    measure_performance,
    render_monitoring_report,
    select_current,
    select_reference,
)

#: Datasets of other stages, read under their own names.
SHARED_INPUTS = {
    "inference.predictions",
    "inference.scored_features",
    "feature_store@frame",
    "label_store@frame",
    "model_registry_versions",
}


def create_pipeline(**kwargs) -> Pipeline:
    """Reference and current rows, drift, performance, status, charts and the report."""
    return Pipeline(
        [
            Node(
                choose_monitored_model,
                inputs=["inference.predictions", "model_registry_versions"],
                outputs="monitored_model",
                name="choose_monitored_model",
            ),
            Node(
                select_reference,
                inputs=["feature_store@frame", "monitored_model", "params:monitoring"],
                outputs=["reference_features", "reference_risk"],
                name="select_reference",
            ),
            Node(
                select_current,
                inputs=[
                    "inference.predictions",
                    "inference.scored_features",
                    "label_store@frame",
                    "monitored_model",
                ],
                outputs="current_encounters",
                name="select_current",
            ),
            Node(
                measure_drift,
                inputs=[
                    "reference_features",
                    "reference_risk",
                    "current_encounters",
                    "params:monitoring",
                ],
                outputs="drift",
                name="measure_drift",
            ),
            Node(
                measure_performance,
                inputs=["current_encounters", "params:monitoring"],
                outputs="performance",
                name="measure_performance",
            ),
            Node(
                estimate_performance,
                inputs=["current_encounters", "monitored_model", "params:monitoring"],
                outputs="estimated_performance",
                name="estimate_performance",
            ),
            Node(
                decide_status,
                inputs=[
                    "drift",
                    "performance",
                    "estimated_performance",
                    "monitored_model",
                    "reference_features",
                    "params:monitoring",
                ],
                outputs="status",
                name="decide_status",
            ),
            Node(
                draw_monitoring_charts,
                inputs=[
                    "drift",
                    "current_encounters",
                    "reference_risk",
                    "performance",
                    "params:monitoring",
                ],
                outputs=["charts", "chart_images"],
                name="draw_monitoring_charts",
            ),
            Node(
                render_monitoring_report,
                inputs=[
                    "status",
                    "drift",
                    "performance",
                    "estimated_performance",
                    "chart_images",
                ],
                outputs="report_html",
                name="render_monitoring_report",
            ),
        ],
        namespace="monitoring",
        inputs=SHARED_INPUTS,
        parameters={"params:monitoring"},
    )
