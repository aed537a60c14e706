"""ParquetWindow: a snapshot window read from its file by columns, row subsets and batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diab_readmit.datasets.parquet_window import (
    ParquetWindow,
    column_values,
    read_columns,
    window_frames,
)

FEATURES = ["a", "b", "c"]


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = 50
    return pd.DataFrame(
        {
            "encounter_id": np.arange(rows, dtype=np.int64) * 10,
            "readmitted_30d": (np.arange(rows) % 3 == 0).astype(np.int8),
            **{name: rng.normal(size=rows).astype(np.float32) for name in FEATURES},
        }
    )


@pytest.fixture
def window(frame, tmp_path) -> ParquetWindow:
    path = tmp_path / "train_processed.parquet"
    # Row groups of 7 rows: every read below crosses group boundaries.
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=7
    )
    return ParquetWindow(path, shown="s3://bucket/train_processed.parquet")


def test_knows_rows_and_columns_from_the_footer(window, frame):
    assert len(window) == 50 and not window.empty
    assert window.columns == list(frame.columns)
    assert "a" in window and "z" not in window
    assert "s3://bucket/train_processed.parquet" in repr(window)


def test_single_columns_and_column_reads_equal_the_frame(window, frame):
    pd.testing.assert_series_equal(window["readmitted_30d"], frame["readmitted_30d"])
    np.testing.assert_array_equal(column_values(window, "a"), frame["a"].to_numpy())
    pd.testing.assert_frame_equal(
        read_columns(window, ["b", "encounter_id"]), frame[["b", "encounter_id"]]
    )
    pd.testing.assert_frame_equal(window.to_pandas(), frame)
    with pytest.raises(TypeError, match="read_columns"):
        window[["a", "b"]]
    with pytest.raises(KeyError, match="no column"):
        window.read_columns(["a", "missing"])


def test_batches_cover_every_row_in_order(window, frame):
    batches = list(window.iter_frames(["encounter_id", "a"], batch_rows=8))
    assert [len(b) for b in batches] == [8] * 6 + [2]
    joined = pd.concat(batches)
    # Each batch is indexed by its rows' positions in the window.
    pd.testing.assert_frame_equal(joined, frame[["encounter_id", "a"]])
    starts = []
    for start, matrix in window.iter_matrices(FEATURES, batch_rows=8):
        starts.append(start)
        assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
        np.testing.assert_array_equal(
            matrix, frame[FEATURES].to_numpy()[start : start + len(matrix)]
        )
    assert starts == list(range(0, 50, 8))


def test_row_subsets_equal_the_frames_rows(window, frame):
    rows = np.array([0, 6, 7, 8, 20, 21, 48, 49])
    np.testing.assert_array_equal(
        window.matrix(FEATURES, rows), frame[FEATURES].to_numpy()[rows]
    )
    assert window.matrix(FEATURES, rows[:0]).shape == (0, 3)
    with pytest.raises(ValueError, match="increasing"):
        window.matrix(FEATURES, np.array([5, 3]))
    with pytest.raises(IndexError, match="beyond"):
        window.matrix(FEATURES, np.array([10, 50]))


def test_a_frame_is_one_batch_of_window_frames(frame):
    (only,) = list(window_frames(frame, ["a", "b"], batch_rows=8))
    pd.testing.assert_frame_equal(only, frame[["a", "b"]])
