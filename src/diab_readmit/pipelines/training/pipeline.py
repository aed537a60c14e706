"""The training template, instantiated once per algorithm with ``namespace=<algorithm>``.

Inside namespace ``xgboost`` the template's ``tuned_model`` becomes ``xgboost.tuned_model``,
``params:estimator`` becomes ``params:xgboost.estimator`` and so on; dataset factories in
catalog_training.yml (``"{algorithm}.model_registry@bundle"``, ...) give every namespace its
own datasets. Only ``preprocessed_snapshot`` and ``params:training_config`` are shared.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from diab_readmit.algorithms import ALGORITHMS

from .decision_nodes import assess_decisions
from .nodes import (
    choose_decision_threshold,
    draw_evaluation_plots,
    evaluate_windows,
    package_model,
    score_evaluation_windows,
    tune_hyperparameters,
)
from .promotion import gate_challenger
from .registration import registration_bundle
from .trust_nodes import (
    assess_trust,
    collect_evidence,
    explain_evaluation_windows,
)


def create_pipeline(algorithm: str) -> Pipeline:
    """Search, evaluate, plot and register one algorithm, namespaced by its name."""
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"Unknown algorithm '{algorithm}'; valid names are {list(ALGORITHMS)}"
        )
    template = Pipeline(
        [
            Node(
                tune_hyperparameters,
                inputs=[
                    "preprocessed_snapshot",
                    "params:training_config",
                    "params:estimator",
                    "params:search",
                ],
                outputs="tuned_model",
                name="tune_hyperparameters",
            ),
            Node(
                score_evaluation_windows,
                inputs=["tuned_model", "preprocessed_snapshot"],
                outputs=["test_scores", "oot_scores"],
                name="score_evaluation_windows",
            ),
            Node(
                choose_decision_threshold,
                inputs=["test_scores", "params:training_config"],
                outputs="decision_threshold",
                name="choose_decision_threshold",
            ),
            Node(
                evaluate_windows,
                inputs=["test_scores", "oot_scores", "decision_threshold"],
                outputs="evaluation_metrics",
                name="evaluate_windows",
            ),
            Node(
                explain_evaluation_windows,
                inputs=[
                    "tuned_model",
                    "preprocessed_snapshot",
                    "test_scores",
                    "oot_scores",
                    "decision_threshold",
                    "params:trust",
                ],
                outputs=["evaluation_predictions", "explanations"],
                name="explain_evaluation_windows",
            ),
            Node(
                assess_trust,
                inputs=[
                    "preprocessed_snapshot",
                    "test_scores",
                    "oot_scores",
                    "decision_threshold",
                    "params:trust",
                ],
                outputs="trust_assessment",
                name="assess_trust",
            ),
            Node(
                assess_decisions,
                inputs=[
                    "test_scores",
                    "oot_scores",
                    "decision_threshold",
                    "params:trust",
                ],
                outputs="decision_assessment",
                name="assess_decisions",
            ),
            Node(
                collect_evidence,
                inputs=["explanations", "trust_assessment", "decision_assessment"],
                outputs="model_evidence",
                name="collect_evidence",
            ),
            Node(
                draw_evaluation_plots,
                inputs=[
                    "test_scores",
                    "oot_scores",
                    "decision_threshold",
                    "explanations",
                    "decision_assessment",
                    "params:estimator",
                ],
                outputs="evaluation_plots",
                name="draw_evaluation_plots",
            ),
            Node(
                package_model,
                inputs=[
                    "tuned_model",
                    "preprocessed_snapshot",
                    "decision_threshold",
                    "evaluation_metrics",
                    "evaluation_plots",
                    "model_evidence",
                    "params:training_config",
                    "params:estimator",
                    "params:search",
                ],
                outputs="model_package",
                name="package_model",
            ),
            Node(
                gate_challenger,
                inputs=[
                    "model_package",
                    "test_scores",
                    "preprocessed_snapshot",
                    "current_champion",
                    "feature_store@lookup",
                    "params:promotion",
                ],
                outputs="gate_decision",
                name="gate_challenger",
            ),
            Node(
                registration_bundle,
                inputs=["model_package", "gate_decision"],
                outputs="model_registry@bundle",
                name="register_model",
            ),
        ]
    )
    return Pipeline(
        template,
        namespace=algorithm,
        inputs={"preprocessed_snapshot", "feature_store@lookup"},
        parameters={"params:training_config", "params:promotion", "params:trust"},
    )
