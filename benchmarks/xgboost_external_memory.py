"""Peak memory and wall time of XGBoost's final fit: external memory against in memory.

Writes an N-row synthetic train window in chunks (a parquet file shaped like a snapshot's
``train_processed.parquet``: 183 float32 model inputs, mostly one-hot and counts like the
real ones, plus ``readmitted_30d`` with a planted signal, ~11% positive), then fits the same
XGBoost configuration twice, each in a fresh process so each peak RSS is its own:

- ``external``: the training node's external-memory path (``xgboost_fits.RowBatches`` over
  the file's row groups, ``train_external_memory``): no float matrix of every row;
- ``in-memory``: today's path: the window as a pandas frame (as the snapshot dataset loads
  it), one float32 matrix of the fit rows, ``EarlyStoppingXGBClassifier.plain_fit``.

Both early-stop on the same in-memory holdout (the calibration holdout's role) and are
scored on it. Prints rows, seconds, peak RSS and ROC-AUC per mode, and the machine's load.

    .venv/bin/python benchmarks/xgboost_external_memory.py --rows 2000000
    .venv/bin/python benchmarks/xgboost_external_memory.py --rows 10000000 --modes external
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost
from sklearn.metrics import roc_auc_score

from diab_readmit.pipelines.training.estimators import EarlyStoppingXGBClassifier
from diab_readmit.pipelines.training.xgboost_fits import Batch, train_external_memory

LABEL = "readmitted_30d"
CONTINUOUS, COUNTS, BINARY = 20, 40, 123
FEATURES = [f"x{i:03d}" for i in range(CONTINUOUS + COUNTS + BINARY)]
CHUNK_ROWS = 250_000
HOLDOUT_ROWS = 200_000
#: A configuration like the search's winners on the UCI-shaped data.
PARAMS = {
    "tree_method": "hist",
    "max_depth": 5,
    "learning_rate": 0.1,
    "min_child_weight": 20.0,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "eval_metric": "auc",
    "random_state": 42,
    "validation_fraction": None,
}


def synthetic_chunk(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` synthetic encounters: float32 inputs and a label from a planted model."""
    rng = np.random.default_rng(seed)
    continuous = rng.standard_normal((rows, CONTINUOUS), dtype=np.float32)
    counts = rng.poisson(0.7, (rows, COUNTS)).astype(np.float32)
    binary = (rng.random((rows, BINARY), dtype=np.float32) < 0.15).astype(np.float32)
    logit = (
        -2.4
        + 0.5 * continuous[:, 0]
        - 0.3 * continuous[:, 1] * continuous[:, 2]
        + 0.4 * counts[:, 0]
        + 0.2 * np.minimum(counts[:, 1], 3)
        + 0.6 * binary[:, 0]
        - 0.4 * binary[:, 1] * binary[:, 2]
    )
    label = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        np.hstack([continuous, counts, binary]), columns=FEATURES, copy=False
    )
    frame[LABEL] = label.astype(np.int8)
    return frame


def write_train_window(path: Path, rows: int) -> None:
    """The train window, one chunk at a time (row groups of ``CHUNK_ROWS``)."""
    writer = None
    for number, start in enumerate(range(0, rows, CHUNK_ROWS)):
        chunk = synthetic_chunk(min(CHUNK_ROWS, rows - start), seed=1000 + number)
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def parquet_batches(path: Path) -> Iterator[Batch]:
    """One pass over the file's row groups as float32 matrices."""
    parquet = pq.ParquetFile(path)
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group)
        X = np.column_stack(
            [table.column(name).to_numpy() for name in FEATURES]
        ).astype(np.float32, copy=False)
        yield X, table.column(LABEL).to_numpy().astype(np.float32), None


def fit(mode: str, path: Path, rounds: int, cache_dir: str | None) -> dict:
    """One fit in this process; returns seconds, peak RSS and the holdout ROC-AUC."""
    holdout = synthetic_chunk(HOLDOUT_ROWS, seed=7)
    eval_set = (holdout[FEATURES], holdout[LABEL].to_numpy())
    model = EarlyStoppingXGBClassifier(
        **PARAMS, n_estimators=rounds, early_stopping_rounds=30, n_jobs=os.cpu_count()
    )
    started = time.perf_counter()
    if mode == "external":
        booster, details = train_external_memory(
            model.plain_estimator(),
            lambda: parquet_batches(path),
            FEATURES,
            eval_set,
            cache_dir,
        )
        scores = booster.predict(
            xgboost.DMatrix(eval_set[0]),
            iteration_range=(0, booster.best_iteration + 1),
        )
    else:
        window = pq.read_table(path).to_pandas()
        pa.default_memory_pool().release_unused()
        matrix = np.empty((len(window), len(FEATURES)), dtype=np.float32)
        for position, column in enumerate(FEATURES):
            matrix[:, position] = window[column].to_numpy()
        frame = pd.DataFrame(matrix, columns=FEATURES, copy=False)
        fitted = model.plain_fit(frame, window[LABEL].to_numpy(), eval_set=eval_set)
        booster, details = fitted.get_booster(), {}
        scores = fitted.predict_proba(eval_set[0])[:, 1]
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "rows": pq.ParquetFile(path).metadata.num_rows,
        "seconds": round(seconds, 1),
        "peak_rss_gb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2
        ),
        "rounds": booster.num_boosted_rounds(),
        "holdout_roc_auc": round(float(roc_auc_score(eval_set[1], scores)), 4),
        **details,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["external", "in-memory"],
        choices=["external", "in-memory"],
    )
    parser.add_argument("--workdir", help="where the train window and the cache go")
    parser.add_argument("--fit", help=argparse.SUPPRESS)  # one fit, in a child process
    parser.add_argument("--file", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.fit:
        result = fit(
            arguments.fit, Path(arguments.file), arguments.rounds, arguments.workdir
        )
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(dir=arguments.workdir) as workdir:
        path = Path(workdir) / "train_processed.parquet"
        started = time.perf_counter()
        write_train_window(path, arguments.rows)
        print(
            f"wrote {arguments.rows:,} rows x {len(FEATURES)} features "
            f"({path.stat().st_size / 2**20:,.0f} MB parquet) in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        for mode in arguments.modes:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--fit",
                    mode,
                    "--file",
                    str(path),
                    "--rounds",
                    str(arguments.rounds),
                    "--workdir",
                    workdir,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if child.returncode != 0:
                print(f"{mode}: exited {child.returncode}\n{child.stderr[-3000:]}")
                continue
            print(child.stdout.strip().splitlines()[-1], flush=True)
    print(f"machine: {os.cpu_count()} cores;", subprocess.getoutput("uptime").strip())


if __name__ == "__main__":
    main()
