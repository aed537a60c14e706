"""Throughput of `kedro run --pipelines inference` in a scratch copy of the project.

Builds the demo job's inputs (synthetic raw file, gold stores, snapshot, a logistic
champion of ``--algorithm``, default xgboost, the usual best on test), then scores extracts of N synthetic encounters (fresh encounter ids;
patients from the same generator, so many have history in the raw file) and prints wall
time, encounters per second and the peak RSS of the kedro process (GNU time). Every
prediction carries its top 3 reasons (``inference.reasons``, the default); ``--reasons 0``
measures scoring without them.

    .venv/bin/python benchmarks/inference_throughput.py --raw 100000 --extract 1 1000000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from diab_readmit.pipelines.synthetic.nodes import generate_encounters
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams

PROJECT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")
QUICK = "training_config.n_candidates=2,training_config.cv_folds=2"


def _kedro(project: Path, *args: str) -> str:
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "NO_COLOR": "1"}
    environment.pop("ALGORITHM", None)
    result = subprocess.run(
        ["/usr/bin/time", "-f", "peak_rss_kb=%M", str(KEDRO), "run", *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout + result.stderr


def _scratch_project(root: Path) -> Path:
    project = root / "project"
    project.mkdir(parents=True)
    shutil.copy(PROJECT / "pyproject.toml", project)
    shutil.copytree(PROJECT / "conf", project / "conf")
    (project / "conf" / "local").mkdir(exist_ok=True)
    (project / "src").mkdir()
    return project


def _extract(n: int, path: Path) -> None:
    size = max(n, 1000)  # the generator's minimum; the extract keeps the first n
    encounters = generate_encounters(SyntheticParams(n_encounters=size, seed=9)).head(n)
    encounters["encounter_id"] = encounters["encounter_id"] + 10**10
    encounters.drop(columns="readmitted").to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", type=int, default=100_000)
    parser.add_argument("--extract", type=int, nargs="+", default=[1, 1_000_000])
    parser.add_argument("--algorithm", default="xgboost")
    parser.add_argument("--reasons", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="inference-bench-"))
    project = _scratch_project(root)
    _kedro(
        project,
        "--pipelines",
        "synthetic",
        "--params",
        f"synthetic.n_encounters={args.raw}",
    )
    _kedro(project, "--pipelines", "data_processing")
    _kedro(project, "--pipelines", "preprocessing")
    _kedro(project, "--pipelines", args.algorithm, "--params", QUICK)
    data = project / "data"
    for n in args.extract:
        for folder in (
            "01_raw/new_encounters",
            "07_model_output",
            "04_feature/scored_feature_store",
        ):
            shutil.rmtree(data / folder, ignore_errors=True)
        (data / "01_raw" / "new_encounters").mkdir(parents=True)
        _extract(n, data / "01_raw" / "new_encounters" / "2009-01.csv")
        started = time.perf_counter()
        output = _kedro(
            project,
            "--pipelines",
            "inference",
            "--params",
            f"inference.reasons={args.reasons}",
        )
        seconds = time.perf_counter() - started
        peak = int(output.rsplit("peak_rss_kb=", 1)[1].split()[0])
        scored = [line for line in output.splitlines() if "Scored 2009-01" in line]
        print(
            f"{args.algorithm}, {args.reasons} reasons, extract of {n:,} encounters "
            f"(raw history {args.raw:,}): {seconds:.1f} s, "
            f"{n / seconds:,.0f} encounters/s, peak RSS {peak / 1024:,.0f} MB; "
            f"{scored[-1].split('INFO')[-1].strip() if scored else 'nothing scored'}",
            flush=True,
        )
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
