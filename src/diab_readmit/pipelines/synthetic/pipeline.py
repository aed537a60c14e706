"""The ``synthetic`` pipeline: writes the demo's raw file ``raw_encounters`` and the next
month's extract ``next_month_extract`` (``data/01_raw/new_encounters/``)."""

from kedro.pipeline import Node, Pipeline

from .nodes import generate_demo_files


def create_pipeline(**kwargs) -> Pipeline:
    """One node, namespaced ``synthetic``; ``params:synthetic`` and ``raw_encounters`` keep
    their names so the catalog entry is the one every other pipeline reads."""
    return Pipeline(
        [
            Node(
                func=generate_demo_files,
                inputs="params:synthetic",
                outputs=["raw_encounters", "next_month_extract"],
                name="generate_demo_files",
            )
        ],
        namespace="synthetic",
        parameters={"params:synthetic"},
        outputs={"raw_encounters"},
    )
