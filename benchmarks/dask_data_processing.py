"""`kedro run --pipelines data_processing` on the Dask engine, in a scratch copy of the project.

Writes a synthetic raw file of N encounters (in blocks, ``EncounterBlocks``), runs
data_processing with ``DIAB_ENGINE=dask`` (a LocalCluster sized by ``engine:``, started and
closed by the run's hook) and prints wall time, the peak RSS of the kedro process and of
each Dask worker process (sampled every 0.2 s with psutil). With ``--compare`` it also runs
the pandas path on the same file and prints whether both gold stores are identical.

    .venv/bin/python benchmarks/dask_data_processing.py --rows 200000 --compare
    .venv/bin/python benchmarks/dask_data_processing.py --rows 1000000
    .venv/bin/python benchmarks/dask_data_processing.py --rows 10000000 --raw /data/raw10m.csv --log run.log
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from pandas.testing import assert_frame_equal

from diab_readmit.datasets.delta_store import DeltaTableStore
from diab_readmit.datasets.raw_encounters import RawEncountersCSVDataset
from diab_readmit.pipelines.synthetic.nodes import EncounterBlocks
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams

PROJECT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")


def _scratch_project(root: Path, raw: Path) -> Path:
    project = root
    project.mkdir(parents=True)
    shutil.copy(PROJECT / "pyproject.toml", project)
    shutil.copytree(PROJECT / "conf", project / "conf")
    (project / "conf" / "local").mkdir(exist_ok=True)
    (project / "src").mkdir()
    (project / "data" / "01_raw").mkdir(parents=True)
    (project / "data" / "01_raw" / "diabetic_data.csv").symlink_to(raw)
    return project


def _peak_rss(process: subprocess.Popen, peaks: dict[int, tuple[str, int]]) -> None:
    """Until ``process`` ends: the largest RSS seen of it and of each of its descendants."""
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for member in members:
            try:
                rss = member.memory_info().rss
                command = " ".join(member.cmdline()[-3:])
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            previous = peaks.get(member.pid, ("", 0))[1]
            peaks[member.pid] = (command, max(previous, rss))
        time.sleep(0.2)


def _run(
    project: Path, engine: str, extra: list[str], log: Path | None = None
) -> tuple[float, dict, str]:
    environment = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "NO_COLOR": "1",
        "DIAB_ENGINE": engine,
    }
    environment.pop("DASK_SCHEDULER_ADDRESS", None)
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(KEDRO), "run", "--pipelines", "data_processing", *extra],
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peaks: dict[int, tuple[str, int]] = {}
    sampler = threading.Thread(target=_peak_rss, args=(process, peaks), daemon=True)
    sampler.start()
    lines = []
    with open(log, "a") if log else open(os.devnull, "w") as live:
        for line in process.stdout:
            lines.append(line)
            live.write(f"[{time.perf_counter() - started:7.1f} s] {line}")
            live.flush()
    process.wait()
    output = "".join(lines)
    seconds = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{engine} run failed:\n{output[-6000:]}")
    return seconds, peaks, output


def _gold(project: Path):
    root = project / "data" / "04_feature"
    return [
        DeltaTableStore(path=str(root / name)).load()
        for name in ("feature_store", "label_store")
    ]


def _report(engine: str, seconds: float, peaks: dict) -> None:
    print(f"{engine}: data_processing {seconds:.1f} s wall")
    for pid, (command, rss) in sorted(peaks.items()):
        role = (
            "worker"
            if "spawn_main" in command or "forkserver" in command
            else "kedro/other"
        )
        print(
            f"  pid {pid:>7} {role:<12} peak RSS {rss / 2**30:6.2f} GiB  ({command[:60]})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run pandas; compare the gold stores",
    )
    parser.add_argument(
        "--params", default="", help="extra kedro --params, e.g. engine.partitions=8"
    )
    parser.add_argument(
        "--raw",
        type=Path,
        help="reuse this raw file (written here first if missing) instead of a scratch one",
    )
    parser.add_argument(
        "--log", type=Path, help="also write the runs' kedro output to this file, live"
    )
    arguments = parser.parse_args()
    extra = ["--params", arguments.params] if arguments.params else []
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="dask-dp-") as scratch:
        root = Path(scratch)
        raw = arguments.raw or root / "diabetic_data.csv"
        if not raw.exists():
            started = time.perf_counter()
            RawEncountersCSVDataset(filepath=str(raw), save_args={"index": False}).save(
                EncounterBlocks(
                    SyntheticParams(n_encounters=arguments.rows, seed=arguments.seed)
                )
            )
            print(f"raw file written in {time.perf_counter() - started:.1f} s")
        print(f"raw file: {raw} ({raw.stat().st_size / 2**20:.0f} MiB)")
        on_dask = _scratch_project(root / "dask", raw.resolve())
        seconds, peaks, _ = _run(on_dask, "dask", extra, arguments.log)
        _report("dask", seconds, peaks)
        if arguments.compare:
            on_pandas = _scratch_project(root / "pandas", raw.resolve())
            seconds, peaks, _ = _run(on_pandas, "pandas", extra, arguments.log)
            _report("pandas", seconds, peaks)
            for name, dask_store, pandas_store in zip(
                ("feature store", "label store"),
                _gold(on_dask),
                _gold(on_pandas),
                strict=True,
            ):
                assert_frame_equal(dask_store, pandas_store, check_exact=True)
                print(
                    f"{name}: identical ({len(pandas_store):,} rows x "
                    f"{pandas_store.shape[1]} columns, dtypes and values)"
                )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
