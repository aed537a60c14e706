"""Adding an algorithm is one recipe: a fourth one, registered only through
``register_algorithm``, gets its pipeline, its parameter validation, its namespace of the
training template, its catalog datasets, its report input and its ECS stage, and trains.

Its search settings are configuration, as every algorithm's are: the scratch project gets
them in conf/local/parameters_training.yml. And the committed configuration agrees with the
recipes: every recipe has a parameter block and the ECS stage files are current.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from pydantic import ValidationError
from sklearn.ensemble import ExtraTreesClassifier

from diab_readmit import ecs_stages
from diab_readmit.algorithms import (
    ALGORITHMS,
    RECIPES,
    EstimatorRecipe,
    register_algorithm,
)
from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.parameter_models import TrainingConfig
from diab_readmit.pipeline_registry import register_pipelines
from diab_readmit.pipelines import reporting
from diab_readmit.pipelines.training import create_pipeline
from diab_readmit.pipelines.training.estimators import (
    EstimatorSettings,
    build_estimator,
)
from tests.conftest import PROJECT

from .conftest import SMALL_ALGORITHMS, SMALL_TRAINING_CONFIG

FOURTH = "extra_trees"
RECIPE = EstimatorRecipe(
    "sklearn.ensemble.ExtraTreesClassifier",
    {"n_jobs": 1, "n_estimators": 30},
    ecs_timeout=timedelta(hours=1),
)
#: Its block of parameters_training.yml: small, as the other algorithms' in these tests.
BLOCK = {
    "estimator": {"name": FOURTH, "params": {"min_samples_leaf": 5}},
    "search": {"method": "random", "space": {"max_depth": [4, 8, None]}},
}
TEMPLATE_NODES = {
    "tune_hyperparameters",
    "score_evaluation_windows",
    "choose_decision_threshold",
    "evaluate_windows",
    "explain_evaluation_windows",
    "assess_trust",
    "assess_decisions",
    "collect_evidence",
    "draw_evaluation_plots",
    "package_model",
    "gate_challenger",
    "register_model",
}


@pytest.fixture
def fourth_algorithm():
    """``extra_trees`` registered for the test only."""
    register_algorithm(FOURTH, RECIPE)
    try:
        yield FOURTH
    finally:
        del RECIPES[FOURTH]


def test_a_registered_algorithm_has_its_pipeline_parameters_report_input_and_stage(
    fourth_algorithm,
):
    before = [name for name in ALGORITHMS if name != FOURTH]
    assert create_pipeline(FOURTH).inputs() == {
        "preprocessed_snapshot",
        "params:training_config",
        "params:trust",
        f"params:{FOURTH}.estimator",
        f"params:{FOURTH}.search",
        # the champion gate
        "params:promotion",
        f"{FOURTH}.current_champion",
        "feature_store@lookup",
    }
    pipelines = register_pipelines()
    assert {n.name for n in pipelines[FOURTH].nodes} == {
        f"{FOURTH}.{name}" for name in TEMPLATE_NODES
    }
    for name in ("training", "__default__"):
        assert f"{FOURTH}.register_model" in {n.name for n in pipelines[name].nodes}
    assert f"{FOURTH}.model_registry@history" in reporting.create_pipeline().inputs()

    assert TrainingConfig().enabled() == [*before, FOURTH]
    assert TrainingConfig(enabled_algorithms={FOURTH: False}).enabled() == before
    estimator = build_estimator(EstimatorSettings(**BLOCK["estimator"]), [0, 1], seed=3)
    assert isinstance(estimator, ExtraTreesClassifier)
    assert (
        estimator.random_state,
        estimator.n_estimators,
        estimator.min_samples_leaf,
    ) == (
        3,
        30,
        5,
    )
    with pytest.raises(ValidationError, match=rf"valid names are \[.*'{FOURTH}'\]"):
        EstimatorSettings(name="lightgbm")

    assert ecs_stages.stage_commands()["stages"][FOURTH]["command"] == [
        "--pipelines",
        FOURTH,
        "--env",
        "aws",
    ]
    assert ecs_stages.dag_stages()[f"train_{FOURTH}"] == {
        "pipeline": FOURTH,
        "timeout_minutes": 60,
    }


def test_a_registered_algorithm_trains_and_registers_in_its_own_folder(
    fourth_algorithm, training_project
):
    (training_project.path / "conf" / "local" / "parameters_training.yml").write_text(
        yaml.safe_dump(
            {
                "training_config": SMALL_TRAINING_CONFIG,
                **SMALL_ALGORITHMS,
                FOURTH: BLOCK,
            }
        )
    )
    bootstrap_project(training_project.path)
    try:
        with KedroSession.create(training_project.path) as session:
            catalog = session.load_context().catalog
            registry = catalog.get(f"{FOURTH}.model_registry@bundle")
            assert registry._path.endswith(f"06_models/model_registry/{FOURTH}")
            assert catalog.get(f"{FOURTH}.model_registry@history")._algorithm == FOURTH
            session.run(pipeline_names=[FOURTH])
    finally:
        bootstrap_project(PROJECT)

    bundle = ModelRegistryDataset(
        path=str(training_project.data / "06_models" / "model_registry" / FOURTH)
    ).load()
    assert bundle["metadata"]["model_name"] == FOURTH
    assert bundle["metadata"]["best_params"]["max_depth"] in (4, 8, None)
    assert set(bundle["metadata"]["performance"]) == {"test", "oot"}


def test_every_algorithm_has_a_parameter_block_and_every_block_an_algorithm():
    parameters = yaml.safe_load(
        (PROJECT / "conf" / "base" / "parameters_training.yml").read_text()
    )
    blocks = {key for key, value in parameters.items() if "estimator" in value}
    assert blocks == set(ALGORITHMS)
    for name in ALGORITHMS:
        assert parameters[name]["estimator"]["name"] == name
    assert set(parameters["training_config"]["enabled_algorithms"]) <= set(ALGORITHMS)


def test_the_ecs_stage_files_are_generated_from_the_recipes():
    for relative, content in ecs_stages.generated().items():
        assert (PROJECT / relative).read_text() == content, (
            f"{relative} is out of date: run `python -m diab_readmit.ecs_stages`"
        )
