"""The estimators the training template can fit, chosen by name from ``params:estimator``.

One table (``diab_readmit.algorithms.RECIPES``) maps an estimator name to its class and the
defaults every training run needs whatever the YAML says: a seed and one thread per
cross-validation fit (the search spreads fits over the cores). No class reweighting by default: reweighting makes
every score an over-estimate of the risk (on the real file OOT Brier 0.22 against 0.096 for
the base rate), while ranking, the thing reweighting is meant to help, does not improve.
The YAML can still set ``class_weight`` or ``scale_pos_weight: auto`` (negatives /
positives of the training window); the calibration step then maps scores back to risks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline as SklearnPipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from diab_readmit.algorithms import ALGORITHMS, RECIPES


class ExternalMemorySettings(BaseModel):
    """``xgboost.estimator.external_memory``: when the final fit streams the train window.

    At ``min_rows`` fit rows or more, the final XGBoost fit reads the train window in
    batches of ``batch_rows`` into an ``xgboost.ExtMemQuantileDMatrix`` whose pages XGBoost
    caches on disk under ``cache_dir`` (the system's temporary folder when null), instead
    of building one float32 matrix of every fit row.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int = Field(default=5_000_000, ge=1)
    batch_rows: int = Field(default=250_000, ge=100)
    cache_dir: str | None = None


class EstimatorSettings(BaseModel):
    """``<algorithm>.estimator`` in parameters_training.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Which estimator the template fits (a name of ``algorithms.RECIPES``); the namespace
    #: is only a name.
    name: str
    #: Constructor arguments held fixed during the search (the search space overrides them).
    params: dict[str, Any] = Field(default_factory=dict)
    #: XGBoost only: train past memory (see ``ExternalMemorySettings``); null = never.
    external_memory: ExternalMemorySettings | None = None

    @field_validator("name")
    @classmethod
    def _known_estimator(cls, value: str) -> str:
        if value not in RECIPES:
            raise ValueError(
                f"estimator {value!r} is not an algorithm of this project; valid names are "
                f"{list(ALGORITHMS)}"
            )
        return value

    @model_validator(mode="after")
    def _external_memory_is_for_xgboost(self) -> EstimatorSettings:
        if self.external_memory is not None and not issubclass(
            RECIPES[self.name].estimator_class(), XGBClassifier
        ):
            raise ValueError(
                f"external_memory is set for estimator {self.name!r}, but only XGBoost "
                f"trains through external memory; remove it from {self.name}.estimator"
            )
        return self


class EarlyStoppingXGBClassifier(XGBClassifier):
    """XGBoost that early-stops on a stratified holdout of whatever data ``fit`` receives.

    Inside cross-validation each fold's fit holds out part of that fold's training rows, so
    no validation fold and no other window ever chooses the number of boosting rounds.
    ``n_estimators`` is the ceiling; ``early_stopping_rounds`` without improvement stops it.
    Only used during the search: the registered model is a plain ``XGBClassifier``
    (``plain_fit``), so unpickling it needs xgboost, not this project.
    """

    def __init__(
        self, *, validation_fraction: float | None = 0.1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.validation_fraction = validation_fraction

    def get_xgb_params(self) -> dict[str, Any]:
        params = super().get_xgb_params()
        params.pop("validation_fraction", None)  # ours, not a booster parameter
        return params

    def fit(self, X: Any, y: Any, **fit_params: Any) -> EarlyStoppingXGBClassifier:
        _fit_with_holdout(super().fit, self, X, y, fit_params)
        return self

    def plain_fit(
        self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None
    ) -> XGBClassifier:
        """Fit a plain ``XGBClassifier`` with these parameters.

        Early-stopping on ``eval_set`` if given, else on a holdout of ``X`` as ``fit`` does.
        """
        plain = self.plain_estimator()
        if eval_set is not None and self.early_stopping_rounds is not None:
            plain.fit(X, y, eval_set=[eval_set], verbose=False)
        else:
            _fit_with_holdout(plain.fit, self, X, y, {})
        return plain

    def plain_estimator(self) -> XGBClassifier:
        """An unfitted plain ``XGBClassifier`` with these parameters."""
        params = {
            k: v for k, v in self.get_params().items() if k != "validation_fraction"
        }
        return XGBClassifier(**params)

    def early_stopping_rows(self, y: Any) -> np.ndarray | None:
        """The stratified holdout of ``y``'s rows that early stopping watches, if any.

        None without ``validation_fraction`` or ``early_stopping_rounds``: then every row
        trains and the fit runs all ``n_estimators`` rounds.
        """
        if not self.validation_fraction or self.early_stopping_rounds is None:
            return None
        _, holdout = train_test_split(
            np.arange(len(y)),
            test_size=self.validation_fraction,
            stratify=np.asarray(y),
            random_state=self.random_state,
        )
        return holdout


def _fit_with_holdout(
    fit: Callable[..., Any],
    settings: EarlyStoppingXGBClassifier,
    X: Any,
    y: Any,
    fit_params: dict[str, Any],
) -> None:
    """Fit on ``X`` minus a stratified holdout, early-stopping on the holdout.

    The holdout rows stay in the training matrix with weight 0, so they add nothing to any
    gradient, split gain or leaf value, instead of copying the other rows into a new matrix:
    at a million encounters that copy alone is half a gigabyte.
    """
    holdout = settings.early_stopping_rows(y)
    if holdout is None:
        fit(X, y, verbose=False, **fit_params)
        return
    y = np.asarray(y)
    weight = np.ones(len(y), dtype=np.float32)
    weight[holdout] = 0.0
    X_holdout = X.iloc[holdout] if hasattr(X, "iloc") else X[holdout]
    fit(
        X,
        y,
        sample_weight=weight,
        eval_set=[(X_holdout, y[holdout])],
        verbose=False,
        **fit_params,
    )


def _balanced_weight(y: np.ndarray) -> float:
    positives = int(np.sum(y == 1))
    return float((len(y) - positives) / max(positives, 1))


def build_estimator(
    settings: EstimatorSettings, y_train: np.ndarray, seed: int
) -> BaseEstimator:
    """An unfitted estimator: project defaults, then ``settings.params``, then the seed.

    ``scale_pos_weight: auto`` (if the YAML asks for it) becomes negatives / positives of
    ``y_train``, the training window's labels. Logistic regression comes as
    ``Pipeline([("standardize", StandardScaler()), ("logistic_regression", ...)])``; its
    parameters are then addressed through ``parameter_prefix``.
    """
    recipe = RECIPES[settings.name]
    params = {**recipe.defaults, **settings.params, "random_state": seed}
    if params.get("scale_pos_weight") == "auto":
        params["scale_pos_weight"] = _balanced_weight(y_train)
    estimator = recipe.estimator_class()()
    check_params(
        settings.name, estimator, params, where=f"{settings.name}.estimator.params"
    )
    estimator.set_params(**params)
    if recipe.standardize:
        return SklearnPipeline(
            [("standardize", StandardScaler()), (settings.name, estimator)]
        )
    return estimator


def final_estimator(estimator: BaseEstimator) -> BaseEstimator:
    """The model itself, without a standardising step in front of it."""
    return estimator[-1] if isinstance(estimator, SklearnPipeline) else estimator


def parameter_prefix(estimator: BaseEstimator) -> str:
    """What turns a parameter name of the YAML into one of ``estimator``'s (``set_params``)."""
    return (
        f"{estimator.steps[-1][0]}__" if isinstance(estimator, SklearnPipeline) else ""
    )


def check_params(
    name: str, estimator: BaseEstimator, params: dict[str, Any], where: str
) -> None:
    """Refuse parameter names the estimator does not have, naming the YAML key."""
    model = final_estimator(estimator)
    valid = set(model.get_params(deep=False))
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(
            f"{where} in parameters_training.yml: {unknown} is not a parameter of "
            f"{type(model).__name__} ({name}). Valid names: {sorted(valid)}"
        )


def _set_threads(name: str, estimator: BaseEstimator, n_jobs: int) -> BaseEstimator:
    if "n_jobs" in RECIPES[name].defaults:
        estimator.set_params(**{f"{parameter_prefix(estimator)}n_jobs": n_jobs})
    return estimator


def fit_final(
    name: str,
    estimator: BaseEstimator,
    X: pd.DataFrame,
    y: np.ndarray,
    n_jobs: int,
    eval_set: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> BaseEstimator:
    """Refit the chosen configuration on the training rows, with ``n_jobs`` threads.

    XGBoost early-stops on ``eval_set`` when given (the calibration holdout, which is not in
    ``X``), otherwise on a holdout of ``X`` as during the search.

    During the search each fit is single-threaded because the fits themselves run in
    parallel; the refit runs alone. The fitted model is set back to one thread: a forest
    predicting with several threads adds its trees' votes in completion order, so scores
    would differ in the last bit from run to run and a row at the threshold could flip.
    Fitting on the DataFrame records the feature names, so the registered pipeline refuses
    rows whose columns do not match.
    """
    estimator = _set_threads(name, estimator, n_jobs)
    if isinstance(estimator, EarlyStoppingXGBClassifier):
        fitted = estimator.plain_fit(X, y, eval_set=eval_set)
    elif isinstance(estimator, SklearnPipeline):
        fitted = _fit_standardized(clone(estimator), X, y)
    else:
        fitted = clone(estimator).fit(X, y)
    return _set_threads(name, fitted, 1)


#: Rows per block when the refit's standardiser learns its means and variances.
STANDARDIZE_BLOCK_ROWS = 65_536


def _fit_standardized(
    pipeline: SklearnPipeline, X: pd.DataFrame, y: np.ndarray
) -> SklearnPipeline:
    """``pipeline.fit(X, y)`` for ``[StandardScaler, model]``, without a float64 copy of X.

    ``StandardScaler.fit`` subtracts the means from the whole matrix in float64: at a million
    encounters a 1 GB temporary, twice the matrix itself. Learning the same means and
    variances block by block (``partial_fit``) bounds it to one block; the model then fits on
    the standardised matrix as ``Pipeline.fit`` would have.
    """
    scaler, model = pipeline.steps[0][1], pipeline.steps[-1][1]
    for start in range(0, len(X), STANDARDIZE_BLOCK_ROWS):
        scaler.partial_fit(X.iloc[start : start + STANDARDIZE_BLOCK_ROWS])
    model.fit(scaler.transform(X), y)
    return pipeline


def feature_importances(
    estimator: BaseEstimator, feature_names: list[str]
) -> pd.Series:
    """Signed coefficients for linear models, impurity or gain importances for trees.

    Sorted by magnitude, largest first; the index holds the feature names. The series name
    says which kind it is, for plot titles and metadata.
    """
    standardized = isinstance(estimator, SklearnPipeline)
    estimator = final_estimator(estimator)
    if hasattr(estimator, "coef_"):
        inputs = "standardized inputs" if standardized else "model inputs"
        values, kind = np.ravel(estimator.coef_), f"coefficient ({inputs})"
    elif isinstance(estimator, XGBClassifier):
        values, kind = (
            estimator.feature_importances_,
            f"{estimator.importance_type or 'gain'} importance",
        )
    elif hasattr(estimator, "feature_importances_"):
        values, kind = estimator.feature_importances_, "impurity importance"
    else:
        raise TypeError(
            f"{type(estimator).__name__} exposes neither coef_ nor feature_importances_"
        )
    if len(values) != len(feature_names):
        raise ValueError(
            f"{type(estimator).__name__} has {len(values)} importances for "
            f"{len(feature_names)} feature columns; the model and the snapshot disagree"
        )
    series = pd.Series(np.asarray(values, dtype=float), index=feature_names, name=kind)
    return series.reindex(
        series.abs().sort_values(ascending=False, kind="stable").index
    )
