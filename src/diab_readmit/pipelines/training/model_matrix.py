"""Model inputs of a window, in memory or lazy (``ParquetWindow``): what every estimator is
fitted on and what every window is scored on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from diab_readmit.datasets.parquet_window import ParquetWindow, Window, window_frames

#: Rows a lazy window is scored on at a time (a float32 batch of 183 inputs is ~70 MB).
SCORING_BATCH_ROWS = 100_000


def model_matrix(frame: Window, features: list[str], rows: np.ndarray) -> np.ndarray:
    """The float32 matrix of ``rows`` x ``features``, built column by column.

    One C-contiguous array, without a transient copy of the whole window: joblib memory-maps
    it once for all worker processes instead of pickling a DataFrame per fit, and XGBoost's
    external-memory iterator hands it over one batch of rows at a time. A lazy window
    reads the rows (increasing positions) one row group at a time.
    """
    if isinstance(frame, ParquetWindow):
        return frame.matrix(features, rows)
    matrix = np.empty((len(rows), len(features)), dtype=np.float32)
    for position, column in enumerate(features):
        matrix[:, position] = frame[column].to_numpy()[rows]
    return matrix


def window_risks(classifier: Any, window: Window, features: list[str]) -> np.ndarray:
    """``classifier``'s readmission probability of every row of ``window`` (float64).

    A frame is scored whole, as before; a lazy window ``SCORING_BATCH_ROWS`` at a time, so
    only the risks of every row are held.
    """
    parts = [
        classifier.predict_proba(batch)[:, 1].astype(np.float64)
        for batch in window_frames(window, features, SCORING_BATCH_ROWS)
    ]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def model_inputs(window: Window, features: list[str], rows: np.ndarray) -> pd.DataFrame:
    """``rows`` x ``features`` as a DataFrame over one float32 matrix (no further copy)."""
    return pd.DataFrame(
        model_matrix(window, features, rows), columns=features, copy=False
    )
