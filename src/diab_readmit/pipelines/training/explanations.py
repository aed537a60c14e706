"""Why a patient's risk is what it is: additive per-feature contributions and top reasons.

Each model's contributions add up, row by row, to the model's own output before
calibration (the calibrator is monotone, so the order of reasons is the same):

- **XGBoost**: TreeSHAP, computed by XGBoost itself (``pred_contribs=True``); the
  contributions plus the bias sum to the margin (log-odds).
- **Random forest**: path attributions (Saabas): along each tree's decision path, the change
  of the node's readmission share at a split goes to the split's feature; averaged over the
  trees, they plus the root share sum to the forest's probability. Exact TreeSHAP was
  measured and refused: on the real file's forest (100 trees, ~275 leaves, depth up to 28)
  the ``shap`` library needs 14 ms a row, ~7 minutes for the test and OOT windows (the
  whole job takes ~80 s), and it adds ~215 MB (numba + llvmlite) to the environment.
  Path attributions cost one decision path per tree and row, a few seconds. Their known
  bias (credit leans to features split on late in a path) is stated in the model card.
- **Logistic regression**: coefficient x standardised value; plus the intercept they sum
  to the logit.

Contributions refer to the gold feature names (the model inputs); ``feature_dictionary``
turns a feature and the patient's gold value into the phrase of a reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble._forest import ForestClassifier
from sklearn.pipeline import Pipeline as SklearnPipeline

from diab_readmit import feature_dictionary

from .calibration import uncalibrated
from .estimators import final_estimator

#: Rows per block of the forest's decision paths (bounds the sparse path matrix).
PATH_BLOCK_ROWS = 4096


@dataclass(frozen=True)
class Contributions:
    """Per-row, per-feature contributions: ``base + values.sum(axis=1)`` is the output."""

    values: np.ndarray
    base: np.ndarray
    feature_names: list[str]
    method: str
    unit: str

    def output(self) -> np.ndarray:
        """What the contributions add up to: margin, logit or probability (``unit``)."""
        return self.base + self.values.sum(axis=1)

    def mean_absolute(self) -> pd.Series:
        """Mean |contribution| per feature, largest first: the global view of the model."""
        return ranked_mean_abs(
            np.abs(self.values).mean(axis=0), self.feature_names, self.unit
        )


def ranked_mean_abs(means: np.ndarray, names: list[str], unit: str) -> pd.Series:
    """Mean |contribution| per feature (``means``, e.g. summed over batches of a window
    and divided by its rows), largest first."""
    series = pd.Series(means, index=names, name=f"mean |contribution| ({unit})")
    return series.sort_values(ascending=False, kind="stable")


def contributions(model: BaseEstimator, X: pd.DataFrame) -> Contributions:
    """Contributions of each model input of ``X`` to ``model``'s output for each row.

    Args:
        model: the fitted classifier (calibrated or not; the fitted model inside a
            calibrator is explained).
        X: model inputs (the scaled snapshot columns), in the model's feature order.
    """
    fitted = uncalibrated(model)
    names = [str(c) for c in X.columns]
    inner = final_estimator(fitted)
    if isinstance(inner, xgboost.XGBClassifier):
        return _xgboost_shap(inner, X, names)
    if _is_tree_ensemble(inner):
        return _forest_paths(inner, X, names)
    if hasattr(inner, "coef_"):
        return _linear(fitted, X, names)
    raise TypeError(
        f"No contribution method for {type(inner).__name__}: add one to "
        f"diab_readmit.pipelines.training.explanations.contributions"
    )


def _is_tree_ensemble(model: BaseEstimator) -> bool:
    """A scikit-learn forest (random forest, extra trees): trees with ``tree_`` arrays."""
    trees = getattr(model, "estimators_", None)
    return (
        isinstance(trees, list)
        and bool(trees)
        and all(hasattr(tree, "tree_") for tree in trees)
        and hasattr(model, "predict_proba")
    )


def _xgboost_shap(
    model: xgboost.XGBClassifier, X: pd.DataFrame, names: list[str]
) -> Contributions:
    # A copy, so the registered model keeps its one prediction thread; TreeSHAP uses them all.
    booster = model.get_booster().copy()
    booster.set_param({"nthread": os.cpu_count() or 1})
    # Early stopping keeps every round in the booster; the model predicts with the best ones.
    best = getattr(model, "best_iteration", None)
    rounds = (0, best + 1) if best is not None else (0, 0)
    matrix = xgboost.DMatrix(X, feature_names=names)
    raw = booster.predict(matrix, pred_contribs=True, iteration_range=rounds)
    return Contributions(
        values=raw[:, :-1].astype(np.float64),
        base=raw[:, -1].astype(np.float64),
        feature_names=names,
        method="TreeSHAP (XGBoost pred_contribs)",
        unit="log-odds",
    )


def _forest_paths(
    forest: ForestClassifier, X: pd.DataFrame, names: list[str]
) -> Contributions:
    # One sparse (nodes x features) matrix per tree: the share change at each node goes to
    # its parent's split feature. A row's decision path times it is the row's attribution.
    positive = list(forest.classes_).index(1)
    blocks, roots = [], []
    for tree in forest.estimators_:
        structure = tree.tree_
        share = structure.value[:, 0, positive] / structure.value[:, 0, :].sum(axis=1)
        parent = np.full(structure.node_count, -1)
        for children in (structure.children_left, structure.children_right):
            inner = children >= 0
            parent[children[inner]] = np.flatnonzero(inner)
        child = np.flatnonzero(parent >= 0)
        blocks.append(
            sparse.csr_matrix(
                (
                    share[child] - share[parent[child]],
                    (child, structure.feature[parent[child]]),
                ),
                shape=(structure.node_count, len(names)),
            )
        )
        roots.append(share[0])
    attribution = sparse.vstack(blocks, format="csr")
    values = np.empty((len(X), len(names)), dtype=np.float64)
    for start in range(0, len(X), PATH_BLOCK_ROWS):
        rows = slice(start, start + PATH_BLOCK_ROWS)
        paths, _ = forest.decision_path(X.iloc[rows])
        values[rows] = (paths @ attribution).toarray() / len(forest.estimators_)
    return Contributions(
        values=values,
        base=np.full(len(X), float(np.mean(roots))),
        feature_names=names,
        method="path attribution (Saabas) over the forest's trees",
        unit="probability",
    )


def _linear(model: BaseEstimator, X: pd.DataFrame, names: list[str]) -> Contributions:
    inner = final_estimator(model)
    inputs = X.to_numpy(dtype=np.float64)
    if isinstance(model, SklearnPipeline):
        standardized = model[:-1].transform(X)
        inputs = np.asarray(standardized, dtype=np.float64)
    coefficients = np.ravel(inner.coef_)
    return Contributions(
        values=inputs * coefficients,
        base=np.full(len(X), float(np.ravel(inner.intercept_)[0])),
        feature_names=names,
        method="coefficient x standardised value",
        unit="log-odds",
    )


def gold_values(
    model_inputs: pd.DataFrame, scaler: ColumnTransformer | None
) -> pd.DataFrame:
    """The gold (unscaled) values behind snapshot model inputs, for the reasons' phrases.

    Standard-scaled columns are scaled back; target-encoded codes stay their readmission
    rate, which is what their phrase says; passthrough columns are gold values already.
    """
    values = model_inputs.astype(np.float64)
    if scaler is None or "scaled" not in getattr(scaler, "named_transformers_", {}):
        return values
    standard = scaler.named_transformers_["scaled"]
    columns = [c for c in standard.feature_names_in_ if c in values.columns]
    positions = [list(standard.feature_names_in_).index(c) for c in columns]
    values[columns] = (
        values[columns].to_numpy() * standard.scale_[positions]
        + standard.mean_[positions]
    )
    return values


def reasons_table(
    explained: Contributions, values: pd.DataFrame, k: int = 3
) -> pd.DataFrame:
    """The ``k`` largest contributions (by size, signed) of each row, with their phrases.

    Columns ``reason_<i>`` (the phrase with the patient's value), ``reason_<i>_feature``
    (gold name) and ``reason_<i>_contribution`` (signed, in ``explained.unit``), i = 1..k.
    """
    k = min(k, len(explained.feature_names))
    order = np.argsort(-np.abs(explained.values), axis=1, kind="stable")[:, :k]
    names = np.asarray(explained.feature_names, dtype=object)
    gold = values[explained.feature_names].to_numpy(dtype=np.float64)
    rows = np.arange(len(order))
    table: dict[str, Any] = {}
    for rank in range(k):
        column = order[:, rank]
        table[f"reason_{rank + 1}"] = _phrases(names[column], gold[rows, column])
        table[f"reason_{rank + 1}_feature"] = names[column].astype(str)
        table[f"reason_{rank + 1}_contribution"] = explained.values[rows, column]
    frame = pd.DataFrame(table, index=values.index)
    frame.attrs = {"method": explained.method, "unit": explained.unit}
    return frame


def _phrases(names: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``feature_dictionary.describe`` of each (name, value) pair, each distinct pair once
    (a million encounters have a few thousand distinct pairs, not a million)."""
    pairs = pd.DataFrame({"name": names, "value": values})
    codes = pairs.groupby(["name", "value"], sort=False, dropna=False).ngroup()
    distinct = pairs.drop_duplicates()
    phrases = np.array(
        [
            feature_dictionary.describe(name, value)
            for name, value in zip(distinct["name"], distinct["value"], strict=True)
        ],
        dtype=object,
    )
    return phrases[codes.to_numpy()]


def top_reasons(
    model_bundle_or_pipeline: Any,
    X: pd.DataFrame,
    feature_names: list[str] | None = None,
    k: int = 3,
) -> pd.DataFrame:
    """Top ``k`` reasons for each row's risk, for batch scoring and notebooks.

    Args:
        model_bundle_or_pipeline: a registered model as loaded from the registry (the dict
            ``{"model", "metadata", ...}`` of ``<algorithm>.model_registry``, or its
            ``model``: ``Pipeline([("preprocess", scaler), ("classifier", classifier)])``).
            A bare classifier is explained on ``X`` as model inputs.
        X: gold feature rows (the feature store's columns; extra columns are ignored), or
            model inputs for a bare classifier.
        feature_names: the model inputs to explain, in the model's order; defaults to the
            registered ``metadata["feature_columns"]`` or what the model was fitted on.
        k: reasons per row.

    Returns:
        One row per row of ``X`` (same index): ``reason_<i>`` (plain-language phrase with
        the patient's gold value, e.g. "3 inpatient stays in the year before"),
        ``reason_<i>_feature`` and ``reason_<i>_contribution`` (signed; log-odds for
        XGBoost and logistic regression, probability for random forest), i = 1..k, largest
        first by size. ``attrs`` holds ``method`` and ``unit``.
    """
    model, metadata = model_bundle_or_pipeline, {}
    if isinstance(model, dict):
        model, metadata = model["model"], model.get("metadata") or {}
    scaler = None
    if isinstance(model, SklearnPipeline) and "preprocess" in model.named_steps:
        scaler, classifier = model.named_steps["preprocess"], model[-1]
        inputs = scaler.transform(X)
        if not isinstance(inputs, pd.DataFrame):
            inputs = pd.DataFrame(
                inputs, columns=scaler.get_feature_names_out(), index=X.index
            )
        inputs = inputs.set_axis(X.index)
    else:
        classifier, inputs = model, X
    names = (
        feature_names
        or metadata.get("feature_columns")
        or [str(c) for c in getattr(uncalibrated(classifier), "feature_names_in_", [])]
        or list(inputs.columns)
    )
    inputs = inputs[names]
    values = gold_values(inputs, scaler)
    return reasons_table(contributions(classifier, inputs), values, k)
