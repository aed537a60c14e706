"""How well does performance estimated before the outcomes track what the outcomes say?

Runs the whole job once on a raw file in a scratch copy of the project (``full_run.py``,
project cohort), then treats each month of the OOT window (2008 on the UCI file) as
unlabelled in turn: from the registered model's calibrated risks of that month alone it
estimates ROC-AUC and readmission rate with their intervals (``monitoring.estimation``, the
code the monitoring pipeline runs), and prints them beside the month's realised values.
It also prints each version's decision-curve range (where the model beats treat all and
treat none) and its operating points at 5/10/20/30% capacity, from the registry metadata.

    python benchmarks/performance_estimation.py --raw ../shared/data/uci-diabetes-130/dataset_diabetes.zip
    python benchmarks/performance_estimation.py --project /tmp/diab-run/project   # an earlier run

The risks are the registered model's own (``evaluation_predictions``, checked against the
version's fingerprint), so an estimate here is exactly what monitoring would have said had
the month been scored by batch inference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from diab_readmit.number_format import format_ranges
from diab_readmit.pipelines.monitoring.estimation import estimate_month
from diab_readmit.pipelines.monitoring.parameter_models import EstimationSettings
from diab_readmit.pipelines.training.trust_nodes import predictions_fingerprint

HERE = Path(__file__).resolve().parent
ALGORITHMS = ("logistic_regression", "random_forest", "xgboost")


def run_project(raw: Path, keep: Path) -> Path:
    """``full_run.py --raw raw --project-cohort --keep keep``; the scratch project."""
    command = [
        sys.executable,
        str(HERE / "full_run.py"),
        "--raw",
        str(raw),
        "--project-cohort",
        "--keep",
        str(keep),
    ]
    print(f"Running {' '.join(command[1:])} ...", flush=True)
    subprocess.run(command, check=True)
    return keep / "project"


def registered(project: Path) -> dict[str, tuple[dict, pd.DataFrame]]:
    """Each algorithm's champion metadata and its evaluation predictions."""
    found = {}
    for algorithm in ALGORITHMS:
        folder = project / "data" / "06_models" / "model_registry" / algorithm
        metadata_file = folder / "latest" / "metadata.json"
        predictions_file = (
            project
            / "data"
            / "08_reporting"
            / "evaluation_predictions"
            / f"{algorithm}.parquet"
        )
        if not metadata_file.is_file() or not predictions_file.is_file():
            continue
        metadata = json.loads(metadata_file.read_text())
        predictions = pd.read_parquet(predictions_file)
        expected = (metadata.get("explanations") or {}).get("predictions_sha256")
        if predictions_fingerprint(predictions) != expected:
            sys.exit(
                f"{predictions_file} is not the predictions of {algorithm}'s champion"
            )
        found[algorithm] = (metadata, predictions)
    return found


def monthly_estimates(
    predictions: pd.DataFrame, threshold: float, settings: EstimationSettings
) -> pd.DataFrame:
    """Each OOT month as if unlabelled: estimated and realised ROC-AUC and rate."""
    oot = predictions[predictions["window"] == "oot"]
    rows = []
    for month, group in oot.groupby(pd.to_datetime(oot["partition_date"]), sort=True):
        risk = group["risk"].to_numpy(np.float64)
        y = group["readmitted_30d"].to_numpy(np.int64)
        estimate = estimate_month(risk, threshold, settings)
        realised_auc = float(roc_auc_score(y, risk))
        auc_low, auc_high = estimate["auc_roc"]["interval"]
        rate_low, rate_high = estimate["rate"]["interval"]
        rows.append(
            {
                "month": month.strftime("%Y-%m"),
                "encounters": len(group),
                "estimated_auc": estimate["auc_roc"]["estimate"],
                "auc_low": auc_low,
                "auc_high": auc_high,
                "realised_auc": realised_auc,
                "estimated_rate": estimate["rate"]["estimate"],
                "rate_low": rate_low,
                "rate_high": rate_high,
                "realised_rate": float(y.mean()),
            }
        )
    table = pd.DataFrame(rows)
    table["auc_inside"] = table["realised_auc"].between(
        table["auc_low"], table["auc_high"]
    )
    table["rate_inside"] = table["realised_rate"].between(
        table["rate_low"], table["rate_high"]
    )
    return table


def print_table(algorithm: str, metadata: dict, table: pd.DataFrame) -> dict:
    test_auc = metadata["performance"]["test"]["auc_roc"]
    print(f"\n### {algorithm} {metadata['version_id']} (test ROC-AUC {test_auc:.4f})\n")
    print(
        "| month | encounters | estimated ROC-AUC (95% interval) | realised ROC-AUC | "
        "estimated rate (95% interval) | realised rate |"
    )
    print("|---|---:|---|---:|---|---:|")
    for row in table.itertuples():
        print(
            f"| {row.month} | {row.encounters:,} | {row.estimated_auc:.3f} "
            f"({row.auc_low:.3f} to {row.auc_high:.3f}) | {row.realised_auc:.3f}"
            f"{'' if row.auc_inside else ' *'} | {row.estimated_rate:.1%} "
            f"({row.rate_low:.1%} to {row.rate_high:.1%}) | {row.realised_rate:.1%}"
            f"{'' if row.rate_inside else ' *'} |"
        )
    auc_error = (table["estimated_auc"] - table["realised_auc"]).abs()
    rate_error = (table["estimated_rate"] - table["realised_rate"]).abs()
    summary = {
        "months": len(table),
        "auc_mean_abs_error": float(auc_error.mean()),
        "auc_bias": float((table["estimated_auc"] - table["realised_auc"]).mean()),
        "auc_inside": int(table["auc_inside"].sum()),
        "rate_mean_abs_error": float(rate_error.mean()),
        "rate_bias": float((table["estimated_rate"] - table["realised_rate"]).mean()),
        "rate_inside": int(table["rate_inside"].sum()),
    }
    print(
        f"\n* realised outside the interval. ROC-AUC: mean |estimated - realised| "
        f"{summary['auc_mean_abs_error']:.3f}, mean (estimated - realised) "
        f"{summary['auc_bias']:+.3f}, inside {summary['auc_inside']}/{len(table)}. Rate: "
        f"mean |error| {summary['rate_mean_abs_error']:.2%}, mean (estimated - realised) "
        f"{summary['rate_bias']:+.2%}, inside {summary['rate_inside']}/{len(table)}."
    )
    return summary


def print_decisions(algorithm: str, metadata: dict) -> dict:
    curves = metadata.get("decision_curve") or {}
    ranges = {
        window: {
            "beats_defaults": curve["beats_defaults"],
            "beats_defaults_surely": curve["beats_defaults_surely"],
        }
        for window, curve in curves.items()
    }
    print(
        f"{algorithm}: beats treat all and treat none for t in "
        + "; ".join(
            f"{window}: {format_ranges(r['beats_defaults'])} (interval above 0: "
            f"{format_ranges(r['beats_defaults_surely'])})"
            for window, r in ranges.items()
        )
    )
    for window, rows in (metadata.get("operating_points") or {}).items():
        cells = ", ".join(
            f"{row['capacity']:.0%}: sens {row['sensitivity']:.1%} PPV {row['ppv']:.1%} "
            f"flagged {row['flagged_share']:.1%}"
            for row in rows
            if row["point"] == "capacity"
        )
        print(f"  {window} capacity table: {cells}")
    return ranges


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--raw", type=Path, help="diabetic_data.csv or the UCI zip")
    source.add_argument("--project", type=Path, help="a project already run")
    parser.add_argument("--keep", type=Path, help="where full_run.py keeps its project")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    project = args.project or run_project(
        args.raw, args.keep or Path(tempfile.mkdtemp(prefix="diab-estimation-"))
    )
    settings = EstimationSettings()
    versions = registered(project)
    if not versions:
        sys.exit(f"no registered version with evaluation predictions under {project}")
    results = {}
    print("\n## Decision curves and capacities (registry metadata)\n")
    for algorithm, (metadata, _) in versions.items():
        results[algorithm] = {"decision_curve": print_decisions(algorithm, metadata)}
    print("\n## Each OOT month as if unlabelled: estimated against realised")
    for algorithm, (metadata, predictions) in versions.items():
        table = monthly_estimates(predictions, float(metadata["threshold"]), settings)
        results[algorithm].update(
            version_id=metadata["version_id"],
            summary=print_table(algorithm, metadata, table),
            months=table.to_dict("records"),
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
