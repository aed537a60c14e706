"""Peak memory and wall time of the whole XGBoost training task: `kedro run --pipelines xgboost`.

Writes a synthetic preprocessed snapshot of N encounters (default 10M: 70 % train, 15 % test,
15 % OOT by month) in the snapshot layout, chunk by chunk so it is never whole in memory:
``train_data_<id>/{train,test,oot}_processed.parquet`` (encounter_id, patient_nbr,
partition_date, readmitted_30d and 183 float32 model inputs shaped like the real ones, from
``xgboost_external_memory.synthetic_chunk``, with race / gender / age columns for the group
tables), a fitted ``scaler.pkl`` that produces those inputs, a ``metadata.json`` with the
files' sha256, and ``latest.txt``. Then runs ``kedro run --pipelines xgboost`` on it in a
scratch copy of the project (empty registry: no champion to rescore) with a small, fixed
search, and prints the wall time and the peak RSS of the kedro process and of the whole
process tree (search workers included), sampled every 0.2 s with psutil.

    .venv/bin/python benchmarks/training_task_memory.py --rows 300000 --lazy-min-rows 1000 \\
        --params xgboost.estimator.external_memory.min_rows=1000
    .venv/bin/python benchmarks/training_task_memory.py --workdir /var/tmp --log run.log
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xgboost_external_memory import (
    CONTINUOUS,
    FEATURES,
    LABEL,
    synthetic_chunk,
)

from diab_readmit.datasets.parquet_window import ROW_GROUP_ROWS

PROJECT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")
CHUNK_ROWS = 250_000
SNAPSHOT_ID = "train_data_20260101_000000"
#: The synthetic inputs renamed so the trust groups find them: the first continuous input
#: is an age, three binary ones a race family, two a gender family.
RENAMED = {
    FEATURES[0]: "age_midpoint",
    FEATURES[-1]: "race_caucasian",
    FEATURES[-2]: "race_africanamerican",
    FEATURES[-3]: "race_other",
    FEATURES[-4]: "gender_female",
    FEATURES[-5]: "gender_male",
}
MODEL_INPUTS = [RENAMED.get(name, name) for name in FEATURES]
#: Window shares and the months each window spans.
WINDOWS = {
    "train": (0.70, "2001-01-01", 60),
    "test": (0.15, "2006-01-01", 12),
    "oot": (0.15, "2007-01-01", 12),
}
#: A small, fixed search: four candidates on the capped sample, then 100 rounds.
DEFAULT_PARAMS = (
    "xgboost.estimator.params.n_estimators=100,"
    "xgboost.search.method=random,"
    "xgboost.search.n_candidates=4,"
    "training_config.cv_folds=3"
)


def _chunk(rows: int, first_id: int, months: pd.DatetimeIndex, seed: int):
    frame = synthetic_chunk(rows, seed).rename(columns=RENAMED)
    rng = np.random.default_rng(seed + 1)
    ids = np.arange(first_id, first_id + rows, dtype=np.int64)
    identity = pd.DataFrame(
        {
            "encounter_id": ids,
            "patient_nbr": ids // 2,  # two encounters per patient
            "partition_date": np.sort(rng.choice(months.to_numpy(), rows)).astype(
                "datetime64[ms]"
            ),
        }
    )
    return pd.concat([identity, frame[[LABEL, *MODEL_INPUTS]]], axis=1)


def _sha256(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(8 * 2**20):
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def write_snapshot(root: Path, encounters: int) -> dict[str, int]:
    """The snapshot of ``encounters`` rows under ``root`` (the preprocessed folder)."""
    folder = root / SNAPSHOT_ID
    folder.mkdir(parents=True)
    files, counts, first_id, seed = {}, {}, 0, 1000
    for window, (share, start, months) in WINDOWS.items():
        rows = round(share * encounters)
        calendar = pd.date_range(start, periods=months, freq="MS")
        path = folder / f"{window}_processed.parquet"
        writer = None
        # Dates rise chunk by chunk: each chunk draws from its share of the months.
        chunks = max(1, -(-rows // CHUNK_ROWS))
        for number, begin in enumerate(range(0, rows, CHUNK_ROWS)):
            size = min(CHUNK_ROWS, rows - begin)
            low = number * months // chunks
            high = max(low + 1, (number + 1) * months // chunks)
            chunk = _chunk(size, first_id, calendar[low:high], seed)
            first_id, seed = first_id + size, seed + 1
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        writer.close()
        files[path.name] = _sha256(path)
        counts[window] = rows
    sample = _chunk(50_000, 0, pd.date_range("2001-01-01", periods=1), 7)
    continuous = MODEL_INPUTS[:CONTINUOUS]
    scaler = ColumnTransformer(
        [
            ("scaled", StandardScaler(), continuous),
            ("passthrough", "passthrough", MODEL_INPUTS[CONTINUOUS:]),
        ],
        verbose_feature_names_out=False,
    ).fit(sample[MODEL_INPUTS])
    (folder / "scaler.pkl").write_bytes(pickle.dumps(scaler))
    files["scaler.pkl"] = _sha256(folder / "scaler.pkl")
    metadata = {
        "feature_columns": MODEL_INPUTS,
        "windows": {w: {"rows": n} for w, n in counts.items()},
        "synthetic": "benchmarks/training_task_memory.py",
        "snapshot_id": SNAPSHOT_ID,
        "created_at": "2026-01-01T00:00:00+00:00",
        "files": files,
    }
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2))
    (root / "latest.txt").write_text(f"{SNAPSHOT_ID}\n")
    return counts


def _scratch_project(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(PROJECT / "pyproject.toml", root)
    shutil.copytree(PROJECT / "conf", root / "conf")
    (root / "conf" / "local").mkdir(exist_ok=True)
    (root / "src").mkdir()
    return root


def _peak_rss(process: subprocess.Popen, peaks: dict[str, int]) -> None:
    """Until ``process`` ends: its largest RSS and the largest sum over its process tree."""
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for member in members:
            try:
                rss = member.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += rss
            if member.pid == root.pid:
                peaks["kedro"] = max(peaks.get("kedro", 0), rss)
        peaks["tree"] = max(peaks.get("tree", 0), total)
        time.sleep(0.2)


def run_training(project: Path, params: str, log: Path | None) -> tuple[float, dict]:
    environment = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "NO_COLOR": "1",
        "DIAB_ENGINE": "pandas",
        "TMPDIR": str(project / "tmp"),  # the XGBoost page cache goes here
    }
    (project / "tmp").mkdir()
    command = [str(KEDRO), "run", "--pipelines", "xgboost", "--params", params]
    print(f"running: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peaks: dict[str, int] = {}
    sampler = threading.Thread(target=_peak_rss, args=(process, peaks), daemon=True)
    sampler.start()
    tail: list[str] = []
    with open(log, "a") if log else open(os.devnull, "w") as live:
        for line in process.stdout:
            tail = [*tail[-200:], line]
            live.write(f"[{time.perf_counter() - started:7.1f} s] {line}")
            live.flush()
    process.wait()
    seconds = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"kedro run failed:\n{''.join(tail)[-6000:]}")
    return seconds, peaks


def _registered(project: Path) -> dict:
    metadata = sorted(
        (project / "data" / "06_models" / "model_registry" / "xgboost").glob(
            "v*/metadata.json"
        )
    )
    return json.loads(metadata[-1].read_text()) if metadata else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="encounters")
    parser.add_argument(
        "--params",
        default="",
        help=f"kedro --params added to the fixed search ({DEFAULT_PARAMS})",
    )
    parser.add_argument(
        "--lazy-min-rows",
        type=int,
        help="snapshot_lazy_min_rows for the run (default: the catalog's 500,000)",
    )
    parser.add_argument("--workdir", help="where the scratch project goes")
    parser.add_argument("--log", type=Path, help="the run's kedro output, live")
    arguments = parser.parse_args()
    params = ",".join(
        p
        for p in (
            DEFAULT_PARAMS,
            arguments.params,
            f"snapshot_lazy_min_rows={arguments.lazy_min_rows}"
            if arguments.lazy_min_rows
            else "",
        )
        if p
    )
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(
        prefix="training-task-", dir=arguments.workdir
    ) as scratch:
        project = _scratch_project(Path(scratch) / "project")
        started = time.perf_counter()
        counts = write_snapshot(
            project / "data" / "05_model_input" / "preprocessed", arguments.rows
        )
        folder = project / "data" / "05_model_input" / "preprocessed" / SNAPSHOT_ID
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(
            f"snapshot: {counts} rows x {len(MODEL_INPUTS)} inputs, "
            f"{size / 2**30:.2f} GiB parquet, written in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        seconds, peaks = run_training(project, params, arguments.log)
        metadata = _registered(project)
        print(f"kedro run --pipelines xgboost: {seconds:.1f} s wall")
        print(f"  peak RSS kedro process: {peaks.get('kedro', 0) / 2**30:.2f} GiB")
        print(f"  peak RSS process tree:  {peaks.get('tree', 0) / 2**30:.2f} GiB")
        performance = metadata.get("performance", {})
        print(
            "  registered: training_data",
            json.dumps(metadata.get("training_data")),
            "| test ROC-AUC",
            round(performance.get("test", {}).get("auc_roc", float("nan")), 4),
            "| oot ROC-AUC",
            round(performance.get("oot", {}).get("auc_roc", float("nan")), 4),
        )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
