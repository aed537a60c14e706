"""``kedro run --pipelines promote --params promote.algorithm=…,promote.version=…,promote.reason=…``."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from .nodes import request_promotion


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                request_promotion,
                inputs="params:promote",
                outputs="model_registry_promotion",
                name="promote_version",
            )
        ]
    )
