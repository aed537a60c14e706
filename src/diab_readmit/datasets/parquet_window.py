"""A snapshot window left in its parquet file: read by columns, by row subsets or by batches.

``PreprocessedSnapshotDataset`` hands a window of ``lazy_min_rows`` rows or more to training
as a ``ParquetWindow`` instead of a pandas frame, so a training task never holds a whole
large window (7M train rows x 183 float32 inputs are ~5 GB). The file was verified against
its sha256 before the window was made; a snapshot's files are never rewritten after their
commit, so every later pass reads the verified bytes.

What a training node reads of a window, and what that costs:

- ``len(window)``, ``window.columns``, ``name in window``: from the parquet footer;
- ``window[name]``: one column as a pandas Series (labels, patient ids, dates);
- ``window.read_columns(names)``: a few columns as a DataFrame (group columns);
- ``window.matrix(features, rows)``: the float32 matrix of some rows (a search sample, the
  calibration holdout), one row group in memory at a time besides the result;
- ``window.iter_frames(columns, batch_rows)`` / ``iter_matrices``: every row, in order,
  ``batch_rows`` at a time (the external-memory fit, scoring, explanations);
- ``window.to_pandas()``: the whole window, for small ones.

The module-level functions (``column_values``, ``read_columns``, ``window_frames``) take a
window in either form, so nodes serve both without branching.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: Rows per row group of a saved snapshot window, and per batch of lazy reads by default.
ROW_GROUP_ROWS = 100_000


class ParquetWindow:
    """One window of a preprocessed snapshot, read from ``path`` (a local parquet file).

    Args:
        path: the verified parquet file (on local disk).
        shown: how messages name the file (e.g. ``s3://bucket/.../train_processed.parquet``).
    """

    def __init__(self, path: str | Path, shown: str | None = None) -> None:
        self._path = str(path)
        self.shown = shown or self._path
        metadata = pq.ParquetFile(self._path).metadata
        self.schema: pa.Schema = pq.read_schema(self._path)
        self.num_rows = int(metadata.num_rows)
        self._group_rows = [
            metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)
        ]

    def __repr__(self) -> str:
        return f"ParquetWindow({self.shown!r}, rows={self.num_rows})"

    def __len__(self) -> int:
        return self.num_rows

    def __contains__(self, name: object) -> bool:
        return name in self.schema.names

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    @property
    def empty(self) -> bool:
        return self.num_rows == 0

    def __getitem__(self, name: str) -> pd.Series:
        """One column, whole (a Series indexed 0..n-1, as in the loaded frame)."""
        if not isinstance(name, str):
            raise TypeError(
                f"{self!r}: select one column by name, or read several with read_columns / "
                f"matrix / iter_frames (a window this size is not read whole by indexing)."
            )
        return self.read_columns([name])[name]

    def _checked(self, columns: list[str]) -> list[str]:
        missing = [c for c in columns if c not in self]
        if missing:
            raise KeyError(f"{self.shown} has no column(s) {missing[:10]}")
        return list(columns)

    def read_columns(self, columns: list[str]) -> pd.DataFrame:
        """``columns`` of every row, as a DataFrame."""
        table = pq.read_table(self._path, columns=self._checked(columns))
        return _released(table.to_pandas())

    def to_pandas(self) -> pd.DataFrame:
        """The whole window, as the in-memory snapshot holds it."""
        return _released(pq.read_table(self._path).to_pandas())

    def iter_frames(
        self, columns: list[str], batch_rows: int = ROW_GROUP_ROWS
    ) -> Iterator[pd.DataFrame]:
        """Every row of ``columns``, in file order, ``batch_rows`` at a time; each frame's
        index is its rows' positions in the window."""
        start = 0
        parquet = pq.ParquetFile(self._path)
        for batch in parquet.iter_batches(
            batch_size=batch_rows, columns=self._checked(columns)
        ):
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            yield frame

    def iter_matrices(
        self, features: list[str], batch_rows: int = ROW_GROUP_ROWS
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, float32 matrix of ``features``) of every ``batch_rows`` rows, in order."""
        start = 0
        parquet = pq.ParquetFile(self._path)
        for batch in parquet.iter_batches(
            batch_size=batch_rows, columns=self._checked(features)
        ):
            yield start, _float32_matrix(batch, features)
            start += batch.num_rows

    def matrix(self, features: list[str], rows: np.ndarray) -> np.ndarray:
        """The float32 matrix of ``rows`` (positions, increasing) x ``features``.

        Reads one row group at a time and keeps only its selected rows.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) > 1 and np.any(np.diff(rows) <= 0):
            raise ValueError(f"{self!r}.matrix needs increasing row positions")
        result = np.empty((len(rows), len(features)), dtype=np.float32)
        parquet = pq.ParquetFile(self._path)
        columns = self._checked(features)
        start, filled = 0, 0
        for group, size in enumerate(self._group_rows):
            low, high = np.searchsorted(rows, [start, start + size])
            if high > low:
                table = parquet.read_row_group(group, columns=columns)
                local = rows[low:high] - start
                for position, name in enumerate(features):
                    values = table.column(name).to_numpy()
                    result[filled : filled + high - low, position] = values[local]
                filled += high - low
                del table
            start += size
        if filled != len(rows):
            raise IndexError(
                f"{self!r}.matrix: row positions beyond the window's {self.num_rows} rows"
            )
        return result


def _float32_matrix(batch: pa.RecordBatch, features: list[str]) -> np.ndarray:
    matrix = np.empty((batch.num_rows, len(features)), dtype=np.float32)
    for position, name in enumerate(features):
        matrix[:, position] = batch.column(name).to_numpy(zero_copy_only=False)
    return matrix


def _released(frame: pd.DataFrame) -> pd.DataFrame:
    # Arrow's allocator keeps decoded pages after to_pandas(); hand them back.
    pa.default_memory_pool().release_unused()
    return frame


Window = pd.DataFrame | ParquetWindow


def column_values(window: Window, name: str) -> np.ndarray:
    """One column of a window in either form, as a numpy array."""
    return window[name].to_numpy()


def read_columns(window: Window, columns: list[str]) -> pd.DataFrame:
    """Some columns of every row of a window in either form."""
    if isinstance(window, ParquetWindow):
        return window.read_columns(columns)
    return window[columns]


def window_frames(
    window: Window, columns: list[str], batch_rows: int = ROW_GROUP_ROWS
) -> Iterator[pd.DataFrame]:
    """``columns`` of a window: a frame in memory whole (one batch), a lazy one in batches."""
    if isinstance(window, ParquetWindow):
        yield from window.iter_frames(columns, batch_rows)
    else:
        yield window[columns]
