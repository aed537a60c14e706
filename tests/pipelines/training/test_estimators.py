"""The final refit: the same model as scikit-learn's and XGBoost's own fits, with less memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from xgboost import XGBClassifier

from diab_readmit.pipelines.training import estimators
from diab_readmit.pipelines.training.estimators import (
    EstimatorSettings,
    build_estimator,
    fit_final,
)


def _frame(
    n_rows: int, n_columns: int, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_columns), dtype=np.float32) * 3 + 5
    y = (rng.random(n_rows) < 1 / (1 + np.exp(2 - X[:, 0] + 5))).astype(np.int8)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(n_columns)], copy=False), y


def test_standardized_refit_equals_the_pipelines_own_fit(monkeypatch):
    monkeypatch.setattr(estimators, "STANDARDIZE_BLOCK_ROWS", 700)  # several blocks
    X, y = _frame(5_000, 12)
    settings = EstimatorSettings(name="logistic_regression", params={"C": 0.1})
    reference = build_estimator(settings, y, seed=3).fit(X, y)

    refit = fit_final(
        "logistic_regression", build_estimator(settings, y, seed=3), X, y, n_jobs=1
    )

    np.testing.assert_allclose(refit[0].mean_, reference[0].mean_, rtol=1e-6)
    np.testing.assert_allclose(refit[0].scale_, reference[0].scale_, rtol=1e-5)
    np.testing.assert_allclose(
        refit.predict_proba(X), reference.predict_proba(X), atol=1e-6
    )
    assert list(refit.feature_names_in_) == list(X.columns)


def test_standardized_refit_allocates_about_one_copy_of_the_matrix(monkeypatch):
    # Pipeline.fit's StandardScaler alone allocates a float64 copy (twice the float32
    # matrix); the block-wise fit needs one float32 copy (the standardised matrix) and a
    # block's float64 temporary (here a tenth of the rows, as at a million encounters).
    monkeypatch.setattr(estimators, "STANDARDIZE_BLOCK_ROWS", 10_000)
    X, y = _frame(100_000, 40)
    settings = EstimatorSettings(name="logistic_regression", params={"max_iter": 50})
    tracemalloc.start()
    try:
        fit_final(
            "logistic_regression", build_estimator(settings, y, seed=0), X, y, n_jobs=1
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = X.to_numpy().nbytes
    assert peak < 1.5 * size, (
        f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB matrix"
    )


def test_xgboost_holdout_rows_are_left_out_of_training_and_only_stop_it():
    X, y = _frame(4_000, 6, seed=1)
    settings = EstimatorSettings(
        name="xgboost",
        params={
            "n_estimators": 400,
            "early_stopping_rounds": 10,
            "validation_fraction": 0.2,
            "max_depth": 2,
            "learning_rate": 0.3,
            "n_jobs": 1,
        },
    )
    model = fit_final("xgboost", build_estimator(settings, y, seed=5), X, y, n_jobs=1)
    assert type(model) is XGBClassifier
    assert 0 < model.best_iteration < 399

    # Same rule by hand: fit on the other rows, early-stop on the holdout.
    fit_rows, holdout = train_test_split(
        np.arange(len(y)), test_size=0.2, stratify=y, random_state=5
    )
    by_hand = XGBClassifier(**model.get_params()).fit(
        X.iloc[fit_rows],
        y[fit_rows],
        eval_set=[(X.iloc[holdout], y[holdout])],
        verbose=False,
    )
    assert model.best_iteration == by_hand.best_iteration
    np.testing.assert_allclose(
        model.predict_proba(X)[:, 1], by_hand.predict_proba(X)[:, 1], atol=1e-3
    )
