"""``kedro run --pipelines inference``: score new extracts with the champion."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from diab_readmit.engine import selected_engine

from .features import build_scoring_features, type_new_extracts
from .nodes import choose_champion, score_new_encounters
from .summary import summarise_scoring


def create_pipeline(**kwargs) -> Pipeline:
    on_dask = selected_engine() == "dask"
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
            _scoring_features(on_dask),
            Node(
                score_new_encounters,
                inputs=[
                    "scoring_features",
                    "champion",
                    "scored_extracts",
                    "new_encounters_provenance",
                    "params:inference",
                ],
                outputs=["predictions", "scored_features"],
                name="score_new_encounters",
            ),
            Node(
                summarise_scoring,
                inputs=["predictions", "champion"],
                outputs="scoring_summary",
                name="summarise_scoring",
            ),
        ],
        namespace="inference",
        inputs={
            "raw_encounters_blocks" if on_dask else "raw_encounters",
            "new_encounters",
            "new_encounters_provenance",
        },
        parameters={
            *(["params:engine"] if on_dask else []),
            "params:inference",
            "params:encounter_dates",
            "params:order_audit",
            "params:cohort",
            "params:raw_encounters_location",
            "params:new_encounters_location",
        },
    )


def _scoring_features(on_dask: bool) -> Node:
    """On the Dask engine the raw file is read in blocks and features are built per
    partition of whole patients (``dask_engine``); the same features either way."""
    inputs = [
        "raw_encounters",
        "new_extracts",
        "params:encounter_dates",
        "params:order_audit",
        "params:cohort",
        "params:raw_encounters_location",
    ]
    if not on_dask:
        return Node(
            build_scoring_features,
            inputs=inputs,
            outputs="scoring_features",
            name="build_scoring_features",
        )
    from .dask_engine import build_scoring_features_by_patient

    return Node(
        build_scoring_features_by_patient,
        inputs=["raw_encounters_blocks", *inputs[1:], "params:engine"],
        outputs="scoring_features",
        name="build_scoring_features_by_patient",
    )
