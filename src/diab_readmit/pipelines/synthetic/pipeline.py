"""The ``synthetic`` pipeline: writes demo encounters as the raw file ``raw_encounters``."""

from kedro.pipeline import Node, Pipeline

from .nodes import generate_encounters


def create_pipeline(**kwargs) -> Pipeline:
    """One node, namespaced ``synthetic``; ``params:synthetic`` and ``raw_encounters`` keep
    their names so the catalog entry is the one every other pipeline reads."""
    return Pipeline(
        [
            Node(
                func=generate_encounters,
                inputs="params:synthetic",
                outputs="raw_encounters",
                name="generate_encounters",
            )
        ],
        namespace="synthetic",
        parameters={"params:synthetic"},
        outputs={"raw_encounters"},
    )
