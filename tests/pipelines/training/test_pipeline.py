"""The training template: namespacing, catalog factories, and real `kedro run`s of the
per-algorithm pipelines in a scratch project (alone, all, selected, one failing)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from diab_readmit.datasets.preprocessed_snapshot import PreprocessedSnapshotDataset
from diab_readmit.parameter_models import ALGORITHMS
from diab_readmit.pipeline_registry import register_pipelines
from diab_readmit.pipelines.training import create_pipeline
from tests.conftest import PROJECT

from .conftest import gold_windows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = {
    "roc_curves.png",
    "precision_recall_curves.png",
    "calibration.png",
    "calibration_smoothed.png",
    "decision_curve.png",
    "confusion_matrices.png",
    "importances.png",
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_template_is_namespaced_with_only_the_snapshot_and_training_config_shared(
    algorithm,
):
    pipeline = create_pipeline(algorithm)
    assert {node.namespace for node in pipeline.nodes} == {algorithm}
    assert pipeline.inputs() == {
        "preprocessed_snapshot",
        "params:training_config",
        "params:trust",
        f"params:{algorithm}.estimator",
        f"params:{algorithm}.search",
        # the champion gate: the shared gate settings, the algorithm's champion before this
        # run registers, and gold rows to rescore it on
        "params:promotion",
        f"{algorithm}.current_champion",
        "feature_store@lookup",
    }
    assert pipeline.outputs() == {
        f"{algorithm}.model_registry@bundle",
        f"{algorithm}.evaluation_predictions",
    }
    assert f"{algorithm}.evaluation_plots" in pipeline.all_outputs()
    assert all(name.startswith(f"{algorithm}.") for name in pipeline.all_outputs())


def test_namespaces_keep_the_algorithms_datasets_apart():
    own = {
        a: create_pipeline(a).datasets()
        - {
            "preprocessed_snapshot",
            "params:training_config",
            "params:promotion",
            "params:trust",
            "feature_store@lookup",
        }
        for a in ALGORITHMS
    }
    for first in ALGORITHMS:
        for second in ALGORITHMS:
            if first != second:
                assert not own[first] & own[second]
    # One template: the same node functions in every namespace, no per-algorithm copies.
    functions = {
        a: sorted(n.func.__qualname__ for n in create_pipeline(a).nodes)
        for a in ALGORITHMS
    }
    assert (
        functions["logistic_regression"]
        == functions["random_forest"]
        == functions["xgboost"]
    )


def test_unknown_algorithm_is_refused_with_the_valid_names():
    with pytest.raises(
        ValueError,
        match=r"Unknown algorithm 'lightgbm'; valid names are \['logistic_regression'",
    ):
        create_pipeline("lightgbm")


def test_each_algorithm_is_registered_alone_and_in_training_and_default():
    registered = register_pipelines()
    for algorithm in ALGORITHMS:
        namespaces = {node.namespace for node in registered[algorithm].nodes}
        assert namespaces == {algorithm}
    training = {node.name for node in registered["training"].nodes}
    assert training == {n.name for a in ALGORITHMS for n in registered[a].nodes}
    assert training <= {node.name for node in registered["__default__"].nodes}


def test_every_training_dataset_comes_from_a_factory_with_a_layer():
    bootstrap_project(PROJECT)
    with KedroSession.create(PROJECT) as session:
        catalog = session.load_context().catalog
    for algorithm in ALGORITHMS:
        for name in create_pipeline(algorithm).datasets():
            if name.startswith("params:"):
                continue
            dataset = catalog.get(name)
            assert dataset.metadata["kedro-viz"]["layer"], name
        registry = catalog.get(f"{algorithm}.model_registry@bundle")
        assert registry._path.endswith(f"06_models/model_registry/{algorithm}")
        history = catalog.get(f"{algorithm}.model_registry@history")
        assert history._path == registry._path and history._algorithm == algorithm
        assert catalog.get(f"{algorithm}.tuned_model")._copy_mode == "assign"


def test_default_parameters_are_valid_and_search_at_least_20_candidates_with_5_folds():
    from diab_readmit.parameter_models import TrainingConfig
    from diab_readmit.pipelines.training.estimators import EstimatorSettings
    from diab_readmit.pipelines.training.search import SearchSettings

    parameters = yaml.safe_load(
        (PROJECT / "conf" / "base" / "parameters_training.yml").read_text()
    )
    config = TrainingConfig(**parameters["training_config"])
    assert (
        config.cv_folds == 5
        and config.n_candidates >= 20
        and config.scoring == "roc_auc"
    )
    assert config.enabled() == list(ALGORITHMS)
    for algorithm in ALGORITHMS:
        estimator = EstimatorSettings(**parameters[algorithm]["estimator"])
        search = SearchSettings(**parameters[algorithm]["search"])
        assert estimator.name == algorithm
        assert (search.n_candidates or config.n_candidates) >= 20


# ------------------------------------------------------------------------ runs in a scratch project
def _registered(project) -> set[str]:
    root = project.data / "06_models" / "model_registry"
    return (
        {p.name for p in root.iterdir() if (p / "versions.json").exists()}
        if root.exists()
        else set()
    )


@pytest.mark.slow
def test_one_algorithm_runs_alone_and_registers_a_version_per_run(training_project):
    training_project.run("--pipelines", "xgboost")
    training_project.run("--pipelines", "xgboost")
    assert _registered(training_project) == {"xgboost"}

    root = training_project.data / "06_models" / "model_registry" / "xgboost"
    index = json.loads((root / "versions.json").read_text())
    assert (
        len(index["versions"]) == 2 and index["latest"] == index["versions"][-1]["id"]
    )
    version = root / index["latest"]
    metadata = json.loads((version / "metadata.json").read_text())
    assert (
        metadata["model_name"] == "xgboost"
        and metadata["version_id"] == index["latest"]
    )
    assert (
        metadata["snapshot_id"]
        == PreprocessedSnapshotDataset(
            path=str(training_project.data / "05_model_input" / "preprocessed")
        ).snapshot_ids()[-1]
    )
    assert {p.name for p in (version / "plots").iterdir()} == PLOTS
    assert json.loads((root / "latest" / "metadata.json").read_text()) == metadata

    # The plots of the latest run, also under data/08_reporting/<algorithm>/.
    reporting = training_project.data / "08_reporting" / "xgboost"
    assert {p.name for p in reporting.iterdir()} == PLOTS
    assert all((reporting / name).read_bytes().startswith(PNG_MAGIC) for name in PLOTS)

    # The registered model scores gold feature rows directly.
    model = pickle.loads((root / "latest" / "model.pkl").read_bytes())
    gold_oot = gold_windows()["oot"]
    scores = model.predict_proba(gold_oot)[:, 1]
    assert scores.shape == (len(gold_oot),) and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.slow
def test_training_follows_enabled_algorithms(training_project):
    training_project.run(
        "--pipelines",
        "training",
        "--params",
        "training_config.enabled_algorithms.random_forest=false",
    )
    assert _registered(training_project) == {"logistic_regression", "xgboost"}


@pytest.mark.slow
def test_algorithm_variable_trains_only_that_algorithm(training_project):
    result = training_project.run(
        "--pipelines", "training", env={"ALGORITHM": "random_forest"}
    )
    assert _registered(training_project) == {"random_forest"}
    assert (
        "Training random_forest (not logistic_regression, xgboost)"
        in result.stdout + result.stderr
    )


@pytest.mark.slow
def test_unknown_algorithm_names_are_clear_errors(training_project):
    result = training_project.run(env={"ALGORITHM": "lightgbm"}, check=False)
    assert result.returncode != 0
    assert (
        "ALGORITHM='lightgbm' is not an algorithm of this project; valid names are "
        "['logistic_regression', 'random_forest', 'xgboost']" in result.stderr
    )
    result = training_project.run(
        "--pipelines",
        "training",
        "--params",
        "training_config.enabled_algorithms.lightgbm=true",
        check=False,
    )
    assert result.returncode != 0
    assert "unknown algorithm(s) ['lightgbm']; valid names are" in result.stderr
    assert _registered(training_project) == set()


@pytest.mark.slow
def test_a_failing_algorithm_loses_nothing_of_the_others(training_project):
    result = training_project.run(
        "--pipelines",
        "training",
        "--params",
        "random_forest.estimator.params.criterion=bogus",
        check=False,
    )
    output = " ".join(
        (result.stdout + result.stderr).split()
    )  # rich wraps long log lines
    assert result.returncode != 0
    assert _registered(training_project) == {"logistic_regression", "xgboost"}
    assert "Run summary:" in output
    assert "logistic_regression: succeeded" in output and "xgboost: succeeded" in output
    assert (
        "random_forest: FAILED (random_forest.tune_hyperparameters: InvalidParameterError"
        in output
    )
    assert "Skipping node random_forest.register_model" in output
