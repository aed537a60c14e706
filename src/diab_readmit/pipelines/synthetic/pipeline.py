"""The ``synthetic`` pipeline: writes the demo's raw file (``synthetic.raw_encounters``, the
file every other pipeline reads as ``raw_encounters``) and the next month's extract
``next_month_extract`` (``data/01_raw/new_encounters/``), each with its provenance sidecar."""

from kedro.pipeline import Node, Pipeline

from .nodes import generate_demo_files


def create_pipeline(**kwargs) -> Pipeline:
    """One node, namespaced ``synthetic``; its raw file is declared apart from
    ``raw_encounters`` (same path) because only the demo's writes carry a sidecar."""
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
    )
