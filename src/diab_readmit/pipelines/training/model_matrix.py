"""The float32 matrix of some rows of a window: what every estimator is fitted on."""

from __future__ import annotations

import numpy as np
import pandas as pd


def model_matrix(
    frame: pd.DataFrame, features: list[str], rows: np.ndarray
) -> np.ndarray:
    """The float32 matrix of ``rows`` x ``features``, built column by column.

    One C-contiguous array, without a transient copy of the whole window: joblib memory-maps
    it once for all worker processes instead of pickling a DataFrame per fit, and XGBoost's
    external-memory iterator hands it over one batch of rows at a time.
    """
    matrix = np.empty((len(rows), len(features)), dtype=np.float32)
    for position, column in enumerate(features):
        matrix[:, position] = frame[column].to_numpy()[rows]
    return matrix
