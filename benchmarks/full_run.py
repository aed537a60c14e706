"""Benchmark the whole job — raw file → gold → snapshot → three searches → registry — and,
when asked, the seed system's method (../shared/bench/seed_baseline.py) on the same file.

It runs in a scratch copy of the project (its own data/), so the user's data/ is never
touched, and prints one table: per algorithm test and OOT ROC-AUC, Brier, calibration
intercept, slope and ECE, the seed's AUCs from the same sitting, fit seconds; then the best
model (chosen on test), total wall time, the ratio to the seed baseline and peak RSS.

    python benchmarks/full_run.py --raw ../shared/data/uci-diabetes-130/dataset_diabetes.zip --seed-baseline
    python benchmarks/full_run.py --synthetic 1000000

Peak RSS is sampled from /proc every 0.2 s over the whole process tree of ``kedro run``
(the Kedro process plus any worker processes), so it is the memory the ECS task needs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
ALGORITHMS = ("logistic_regression", "random_forest", "xgboost")
SEED_NAMES = {"lr": "logistic_regression", "rf": "random_forest", "xgb": "xgboost"}
#: Issue 12 (real file, project defaults, honest history): best model chosen on test.
TARGET_BEST_TEST_AUC, TARGET_BEST_OOT_AUC, TARGET_OOT_BRIER, TARGET_RATIO = (
    0.685,
    0.68,
    0.093,
    0.35,
)
PAGE = os.sysconf("SC_PAGE_SIZE")
DATA_LAYERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of ``root_pid`` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            resident = int((entry / "statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[int(entry.name)] = resident
    total, frontier = 0, [root_pid]
    while frontier:
        pid = frontier.pop()
        total += rss.get(pid, 0)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return total


def run_measured(command: list[str], cwd: Path, log: Path) -> tuple[float, int, int]:
    """Run ``command``; return (wall seconds, peak tree RSS bytes, exit code)."""
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("ALGORITHM", None)
    peak = 0
    with log.open("w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.2):
                peak = max(peak, tree_rss_bytes(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    return seconds, peak, code


def scratch_project(root: Path) -> Path:
    project = root / "project"
    project.mkdir(parents=True)
    shutil.copy(PROJECT / "pyproject.toml", project)
    shutil.copytree(
        PROJECT / "conf",
        project / "conf",
        ignore=shutil.ignore_patterns("credentials*"),
    )
    (project / "conf" / "local").mkdir(exist_ok=True)
    (
        project / "src"
    ).mkdir()  # Kedro wants a source dir; imports use the installed package
    for layer in DATA_LAYERS:
        (project / "data" / layer).mkdir(parents=True)
    return project


def place_raw(source: Path, target: Path) -> None:
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as archive:
            name = next(
                n for n in archive.namelist() if n.endswith("diabetic_data.csv")
            )
            target.write_bytes(archive.read(name))
    else:
        shutil.copy(source, target)


def registry_results(project: Path) -> dict[str, dict]:
    results = {}
    for algorithm in ALGORITHMS:
        metadata_file = (
            project
            / "data"
            / "06_models"
            / "model_registry"
            / algorithm
            / "latest"
            / "metadata.json"
        )
        if metadata_file.is_file():
            results[algorithm] = json.loads(metadata_file.read_text())
    return results


def run_seed_baseline(raw: Path, workdir: Path) -> tuple[dict[str, dict], float]:
    script = PROJECT.parent / "shared" / "bench" / "seed_baseline.py"
    if not script.is_file():
        sys.exit(f"seed baseline not found at {script}")
    start = time.perf_counter()
    output = subprocess.run(
        [sys.executable, str(script), str(raw)],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return {SEED_NAMES[row["algo"]]: row for row in rows}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--raw", type=Path, help="a diabetic_data.csv (or the UCI zip)")
    source.add_argument(
        "--synthetic", type=int, metavar="N", help="generate N synthetic encounters"
    )
    parser.add_argument(
        "--seed-baseline",
        action="store_true",
        help="also run seed_baseline.py on the same file",
    )
    parser.add_argument(
        "--project-cohort",
        action="store_true",
        help="use the project's default cohort (drops death/hospice); default is the seed population",
    )
    parser.add_argument("--params", default="", help="extra --params for kedro run")
    parser.add_argument(
        "--keep", type=Path, help="keep the scratch project here instead of a temp dir"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    root = (
        Path(tempfile.mkdtemp(prefix="diab-bench-")) if args.keep is None else args.keep
    )
    project = scratch_project(root)
    kedro = str(Path(sys.executable).with_name("kedro"))
    raw_file = project / "data" / "01_raw" / "diabetic_data.csv"
    generate_seconds = None
    if args.raw:
        place_raw(args.raw, raw_file)
    else:
        generate_seconds, _, code = run_measured(
            [
                kedro,
                "run",
                "--pipelines",
                "synthetic",
                "--params",
                f"synthetic.n_encounters={args.synthetic}",
            ],
            project,
            root / "synthetic.log",
        )
        if code:
            sys.exit(f"synthetic generation failed; see {root / 'synthetic.log'}")

    params = [] if args.project_cohort else ["cohort.exclude_discharge_dispositions=[]"]
    params += [p for p in args.params.split(",") if p]
    command = [kedro, "run"] + (["--params", ",".join(params)] if params else [])
    print(f"Running `{' '.join(command[1:])}` in {project} ...", flush=True)
    wall, peak, code = run_measured(command, project, root / "kedro_run.log")
    if code:
        sys.exit(f"kedro run failed (exit {code}); see {root / 'kedro_run.log'}")
    results = registry_results(project)

    seed, seed_seconds = ({}, None)
    if args.seed_baseline:
        print("Running seed_baseline.py on the same file ...", flush=True)
        seed, seed_seconds = run_seed_baseline(raw_file, root)

    rows = raw_file.stat().st_size and sum(1 for _ in raw_file.open()) - 1
    print()
    print(
        f"raw rows: {rows:,}   cohort: {'project default' if args.project_cohort else 'seed population (all encounters)'}"
    )
    if generate_seconds is not None:
        print(f"synthetic generation: {generate_seconds:.1f} s (not included below)")
    header = (
        "| algorithm | test AUC | OOT AUC | test Brier | OOT Brier | OOT cal. intercept | "
        "OOT cal. slope | OOT ECE | seed test / OOT AUC (here) | fit s |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for algorithm in ALGORITHMS:
        meta = results.get(algorithm)
        if meta is None:
            print(f"| {algorithm} | (not registered) |")
            continue
        test, oot = meta["performance"]["test"], meta["performance"]["oot"]
        mine = seed.get(algorithm, {})
        seed_cell = f"{mine['test_auc']:.4f} / {mine['oot_auc']:.4f}" if mine else "-"
        print(
            f"| {algorithm} | {test['auc_roc']:.4f} | {oot['auc_roc']:.4f} | {test['brier']:.4f} "
            f"| {oot['brier']:.4f} | {oot.get('calibration_intercept', float('nan')):+.3f} "
            f"| {oot.get('calibration_slope', float('nan')):.3f} | {oot.get('ece', float('nan')):.4f} "
            f"| {seed_cell} | {meta.get('training_seconds', float('nan')):.1f} |"
        )
    if results:
        best = max(results, key=lambda a: results[a]["performance"]["test"]["auc_roc"])
        perf = results[best]["performance"]
        worst_brier = max(m["performance"]["oot"]["brier"] for m in results.values())
        base_rate = perf["oot"]["positive_rate"]
        print()
        print(
            f"best model on test: {best}: test AUC {perf['test']['auc_roc']:.4f} "
            f"(target >= {TARGET_BEST_TEST_AUC}), OOT AUC {perf['oot']['auc_roc']:.4f} "
            f"(target >= {TARGET_BEST_OOT_AUC})"
        )
        print(
            f"worst OOT Brier of any model: {worst_brier:.4f} (target <= {TARGET_OOT_BRIER}; "
            f"predicting the OOT base rate {base_rate:.3f} scores {base_rate * (1 - base_rate):.4f})"
        )
    print()
    print(f"total wall time of `kedro run`: {wall:.1f} s")
    if seed_seconds is not None:
        print(
            f"seed_baseline.py wall time:     {seed_seconds:.1f} s   ratio: {wall / seed_seconds:.2f}x (target <= {TARGET_RATIO}x)"
        )
    print(f"peak RSS (process tree):        {peak / 2**30:.2f} GiB")
    print(f"logs and data: {root}" if args.keep else "")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": rows,
                    "wall_seconds": wall,
                    "peak_rss_bytes": peak,
                    "seed_seconds": seed_seconds,
                    "generate_seconds": generate_seconds,
                    "algorithms": {
                        a: {
                            "test": m["performance"]["test"],
                            "oot": m["performance"]["oot"],
                            "training_seconds": m.get("training_seconds"),
                        }
                        for a, m in results.items()
                    },
                    "seed": seed,
                },
                indent=2,
            )
        )
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
