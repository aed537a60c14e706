"""Does scoring month N+1 cost what month 1 cost? Saves 24 monthly batches of scored
encounters in a row into the scored stores, as ``kedro run --pipelines inference`` saves
them (the scored feature rows, then the predictions, committed as a pair), and prints the
seconds of each month's save.

    python benchmarks/scoring_months.py                       # 24 months x 4,000 encounters
    python benchmarks/scoring_months.py --months 36 --rows 8000

The rows look like the project's: the scored feature store has the gold feature store's ~190
columns, the predictions their 20. Run it from a checkout of any commit: it uses the Delta
stores (``DeltaTableStore``, MERGE) where they exist and the earlier parquet stores
(``ScoredEncountersStore``, read-merge-rewrite) before them, so before and after come from
the same script.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

FEATURE_COLUMNS = 187


def month_rows(month: int, rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One month of scored feature rows and predictions, encounter ids unique per month."""
    rng = np.random.default_rng(seed)
    ids = np.arange(rows, dtype=np.int64) + month * 10_000_000
    day = pd.Timestamp("2009-01-01") + pd.DateOffset(months=month)
    partition = pd.Series([day] * rows, dtype="datetime64[ms]")
    features = pd.DataFrame(
        rng.random((rows, FEATURE_COLUMNS)),
        columns=[f"feature_{i:03d}" for i in range(FEATURE_COLUMNS)],
    )
    features.insert(0, "encounter_id", ids)
    features.insert(1, "patient_nbr", rng.integers(0, 10**8, rows))
    features.insert(2, "partition_date", partition)
    risk = rng.random(rows)
    predictions = pd.DataFrame(
        {
            "encounter_id": ids,
            "patient_nbr": features["patient_nbr"],
            "partition_date": partition,
            "algorithm": "xgboost",
            "model_version": "v20261206_000000",
            "risk": risk,
            "risk_tier": np.where(risk > 0.5, "high", "low"),
            "flagged": risk > 0.8,
            **{f"reason_{i}": "a reason" for i in (1, 2, 3)},
            **{f"reason_{i}_contribution": rng.random(rows) for i in (1, 2, 3)},
            "extract": f"{day:%Y-%m}.csv",
            "scored_at": "2026-12-06T00:00:00+00:00",
        }
    )
    return features, predictions


def stores(root: Path):
    """The scored feature store and the predictions store, as the catalog declares them."""
    try:
        from diab_readmit.datasets.delta_store import store_pair  # noqa: PLC0415
        from diab_readmit.datasets.table_pairs import start_new_run  # noqa: PLC0415

        pair = store_pair(
            str(root / "scored_feature_store"),
            str(root / "predictions"),
            key="encounter_id",
        )
        return "Delta MERGE", pair, start_new_run
    except ImportError:
        from diab_readmit.datasets.scored_store import (  # noqa: PLC0415
            ScoredEncountersStore,
        )

        from diab_readmit.datasets import gold_store  # noqa: PLC0415

        features = ScoredEncountersStore(
            path=str(root / "scored_feature_store"),
            commits_with=str(root / "predictions"),
        )
        predictions = ScoredEncountersStore(
            path=str(root / "predictions"),
            commits_with=str(root / "scored_feature_store"),
        )
        return "parquet rewrite", (features, predictions), gold_store.start_new_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--rows", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        kind, (features, predictions), start_new_run = stores(Path(folder))
        seconds = []
        print(f"{kind}: {args.months} months x {args.rows:,} scored encounters")
        for month in range(args.months):
            feature_rows, prediction_rows = month_rows(month, args.rows, seed=month)
            started = time.perf_counter()
            start_new_run()
            features.save(feature_rows)
            predictions.save(prediction_rows)
            seconds.append(time.perf_counter() - started)
            print(f"month {month + 1:2d}: {seconds[-1]:6.2f} s")
        loaded = predictions.load()
        first, last = statistics.mean(seconds[1:4]), statistics.mean(seconds[-3:])
        expected = args.months * args.rows
        print(
            f"months 2-4 {first:.2f} s each, last 3 {last:.2f} s each: x{last / first:.1f}; "
            f"{len(loaded):,} rows in the predictions store"
            + (
                ""
                if len(loaded) == expected
                else f" (expected {expected:,}: ROWS LOST)"
            )
        )


if __name__ == "__main__":
    main()
