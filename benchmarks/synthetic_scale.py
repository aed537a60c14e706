"""The synthetic generator at scale: rows per second and peak RSS, written in blocks.

Each size runs in a fresh process (peak RSS is per process: ``resource.getrusage``), writes
the raw file the way ``kedro run --pipelines synthetic`` does (``EncounterBlocks`` through
``RawEncountersCSVDataset``) into a temporary folder, and prints one line per size. With
blocks of ``--block`` encounters, peak memory is that of one block whatever the size.

    .venv/bin/python benchmarks/synthetic_scale.py --rows 500000 1000000 2000000 --block 500000
    .venv/bin/python benchmarks/synthetic_scale.py --rows 20000000     # 2,000,000 per block
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from diab_readmit.datasets.raw_encounters import RawEncountersCSVDataset
from diab_readmit.pipelines.synthetic.nodes import EncounterBlocks
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams


def _one(rows: int, block: int) -> None:
    with tempfile.TemporaryDirectory(prefix="synthetic-scale-") as folder:
        path = Path(folder) / "diabetic_data.csv"
        started = time.perf_counter()
        RawEncountersCSVDataset(filepath=str(path), save_args={"index": False}).save(
            EncounterBlocks(SyntheticParams(n_encounters=rows, block_encounters=block))
        )
        seconds = time.perf_counter() - started
        size = path.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(
        f"{rows:>11,} encounters, blocks of {min(block, rows):>10,}: {seconds:7.1f} s, "
        f"{rows / seconds:>9,.0f} rows/s, file {size / 2**30:5.2f} GiB, "
        f"peak RSS {peak:5.2f} GiB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--block", type=int, default=2_000_000)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        _one(arguments.rows[0], arguments.block)
        return
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()}")
    for rows in arguments.rows:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                "--rows",
                str(rows),
                "--block",
                str(arguments.block),
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
