"""The `reporting` pipeline: one comparison report across every algorithm's registry.

It reads ``<algorithm>.model_registry@history``, the read-only view of the registry that
training writes as ``@bundle``; the shared name makes Kedro order reporting after training
in ``__default__``, and lets ``kedro run --pipelines reporting`` run on its own. Its nodes
run even when an algorithm's training failed (``RUNS_AFTER_UPSTREAM_FAILURE``).
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.runner import RUNS_AFTER_UPSTREAM_FAILURE

from .nodes import (
    compare_algorithms,
    draw_comparison_charts,
    render_html_report,
    render_markdown_report,
    tabulate_latest_versions,
    tabulate_version_history,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Tables, charts, a Markdown and an HTML report, namespaced ``reporting``."""
    histories = [f"{algorithm}.model_registry@history" for algorithm in ALGORITHMS]
    predictions = [f"{algorithm}.evaluation_predictions" for algorithm in ALGORITHMS]
    template = Pipeline(
        [
            node(
                compare_algorithms,
                inputs=["params:trust", *histories, *predictions],
                outputs="algorithm_differences",
                name="compare_algorithms",
            ),
            node(
                tabulate_latest_versions,
                inputs=["params:report", *histories],
                outputs="model_comparison",
                name="tabulate_latest_versions",
            ),
            node(
                tabulate_version_history,
                inputs=histories,
                outputs="version_history",
                name="tabulate_version_history",
            ),
            node(
                draw_comparison_charts,
                inputs=["model_comparison", "version_history", "params:report"],
                outputs=["comparison_charts", "comparison_chart_images"],
                name="draw_comparison_charts",
            ),
            node(
                render_markdown_report,
                inputs=[
                    "model_comparison",
                    "version_history",
                    "params:report",
                    "algorithm_differences",
                    *histories,
                ],
                outputs="comparison_report_md",
                name="render_markdown_report",
            ),
            node(
                render_html_report,
                inputs=[
                    "model_comparison",
                    "version_history",
                    "comparison_chart_images",
                    "params:report",
                    "algorithm_differences",
                    *histories,
                ],
                outputs="comparison_report_html",
                name="render_html_report",
            ),
        ]
    )
    # A report over every registry is still worth writing when one algorithm's training
    # failed: its registry holds the earlier versions, and the report says when each was
    # registered.
    return Pipeline(
        template,
        namespace="reporting",
        inputs={*histories, *predictions},
        parameters={"params:trust"},
        tags=[RUNS_AFTER_UPSTREAM_FAILURE],
    )
