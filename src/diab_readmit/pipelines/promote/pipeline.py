"""``kedro run --pipelines promote --params promote.algorithm=…,promote.version=…,promote.reason=…``."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from .nodes import promote_requested_version


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                promote_requested_version,
                inputs=["params:promote", "model_registry_location"],
                outputs="promotion_record",
                name="promote_version",
            )
        ]
    )
