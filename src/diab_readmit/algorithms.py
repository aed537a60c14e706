"""The algorithms the project trains: one recipe each, the one list everything else follows.

Derived from ``RECIPES``, never written out again: the per-algorithm pipelines
(pipeline_registry), the names parameter validation accepts (``training_config``'s
``enabled_algorithms``, ``<algorithm>.estimator.name``), the training template's namespace and
so its catalog factories (``"{algorithm}.model_registry@bundle"``, ...), the reporting inputs,
storage cleanup, and the ECS stages of ``deploy/ecs/stage_commands.json`` and the Airflow
DAG (``python -m diab_readmit.ecs_stages`` writes both; a test checks they are current).

To add an algorithm, add its recipe here (or call ``register_algorithm``), give it a block
``<name>: {estimator: ..., search: ...}`` in conf/base/parameters_training.yml (its search
space is configuration, not code; a test checks every recipe has one) and regenerate the ECS
stages.
"""

from __future__ import annotations

import re
from collections.abc import KeysView, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kedro.utils import load_obj

_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class EstimatorRecipe:
    """How the training template builds one algorithm's estimator, and how long it may train.

    Attributes:
        estimator: import path of the scikit-learn compatible class, as the catalog's
            ``type:`` names a dataset (``"sklearn.ensemble.RandomForestClassifier"``).
        defaults: constructor arguments every run needs whatever the YAML says (the YAML's
            ``params`` and the search space override them, the seed overrides everything).
            ``n_jobs`` here means the estimator has threads: one per cross-validation fit,
            all cores for the final refit.
        standardize: standardise every input inside the estimator (fitted on each training
            fold): the snapshot passes one-hot columns and some counts through unscaled,
            which leaves a linear model's solver badly conditioned (10-100x slower, no
            better).
        ecs_timeout: how long its ECS training task may run (the Airflow task's
            ``execution_timeout``).
    """

    estimator: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    standardize: bool = False
    ecs_timeout: timedelta = timedelta(hours=3)

    def estimator_class(self) -> type:
        return load_obj(self.estimator)


#: Algorithm name (also its pipeline, namespace, parameter block and registry folder) ->
#: recipe, in the order pipelines, reports and ECS stages list them.
RECIPES: dict[str, EstimatorRecipe] = {
    "logistic_regression": EstimatorRecipe(
        "sklearn.linear_model.LogisticRegression",
        {"solver": "lbfgs", "max_iter": 1000},
        standardize=True,
        ecs_timeout=timedelta(hours=2),
    ),
    "random_forest": EstimatorRecipe(
        "sklearn.ensemble.RandomForestClassifier", {"n_jobs": 1}
    ),
    "xgboost": EstimatorRecipe(
        "diab_readmit.pipelines.training.estimators.EarlyStoppingXGBClassifier",
        {"tree_method": "hist", "n_jobs": 1, "eval_metric": "auc"},
    ),
}

#: The algorithm names, in ``RECIPES`` order; a live view, so a registered one appears.
ALGORITHMS: KeysView[str] = RECIPES.keys()


def register_algorithm(name: str, recipe: EstimatorRecipe) -> None:
    """Add an algorithm: its pipeline, parameters and datasets follow from the name.

    Raises:
        ValueError: the name is taken or is not a lowercase identifier (it becomes a Kedro
            namespace, a parameter key and a folder name).
    """
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"Algorithm name {name!r} must be a lowercase identifier (letters, digits, "
            f"underscores): it names a pipeline, a namespace and a registry folder."
        )
    if name in RECIPES:
        raise ValueError(
            f"Algorithm {name!r} is already registered ({RECIPES[name].estimator})."
        )
    RECIPES[name] = recipe
