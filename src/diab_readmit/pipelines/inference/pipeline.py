"""``kedro run --pipelines inference``: score new extracts with the champion."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from .features import build_scoring_features, type_new_extracts
from .nodes import choose_champion, score_new_encounters


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                choose_champion,
                inputs=["champions", "params:inference"],
                outputs="champion",
                name="choose_champion",
            ),
            Node(
                type_new_extracts,
                inputs=[
                    "new_encounters",
                    "params:encounter_dates",
                    "params:new_encounters_location",
                ],
                outputs="new_extracts",
                name="type_new_extracts",
            ),
            Node(
                build_scoring_features,
                inputs=[
                    "raw_encounters",
                    "new_extracts",
                    "params:encounter_dates",
                    "params:order_audit",
                    "params:cohort",
                    "params:raw_encounters_location",
                ],
                outputs="scoring_features",
                name="build_scoring_features",
            ),
            Node(
                score_new_encounters,
                inputs=[
                    "scoring_features",
                    "champion",
                    "scored_extracts",
                    "params:inference",
                ],
                outputs=["predictions", "scored_features"],
                name="score_new_encounters",
            ),
        ],
        namespace="inference",
        inputs={"raw_encounters", "new_encounters"},
        parameters={
            "params:inference",
            "params:encounter_dates",
            "params:order_audit",
            "params:cohort",
            "params:raw_encounters_location",
            "params:new_encounters_location",
        },
    )
