"""The report's paired test ROC-AUC differences: tie, better, and pairs that cannot be
compared (no predictions, another version's predictions, other snapshots)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from diab_readmit.pipelines.reporting.trust import compare_algorithms
from diab_readmit.pipelines.training.group_performance import TrustSettings
from diab_readmit.pipelines.training.trust_nodes import predictions_fingerprint

TRUST = TrustSettings(bootstrap={"replicates": 200})


def _predictions(risk: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    n = len(risk)
    return pd.DataFrame(
        {
            "encounter_id": np.arange(n, dtype=np.int64),
            "patient_nbr": np.arange(n, dtype=np.int64) // 2,
            "window": ["test"] * (n - 100) + ["oot"] * 100,
            "readmitted_30d": y,
            "risk": risk,
        }
    )


def _history(name: str, predictions: pd.DataFrame, snapshot: str = "s1") -> dict:
    latest = {
        "snapshot_id": snapshot,
        "explanations": {"predictions_sha256": predictions_fingerprint(predictions)},
    }
    return {"algorithm": name, "latest": latest, "versions": [], "plots": {}}


def test_pairs_are_tied_better_or_named_as_not_comparable():
    rng = np.random.default_rng(0)
    n = 6000
    y = (rng.random(n) < 0.12).astype(int)
    good = np.clip(0.12 + 0.1 * y + rng.normal(0, 0.05, n), 0.001, 0.999)
    same = np.clip(good + rng.normal(0, 1e-4, n), 0.001, 0.999)
    poor = np.clip(good + rng.normal(0, 0.1, n), 0.001, 0.999)
    frames = [_predictions(r, y) for r in (good, same, poor)]
    histories = [_history(a, f) for a, f in zip("abc", frames, strict=True)]
    pairs = {
        (p["first"], p["second"]): p
        for p in compare_algorithms(TRUST, *histories, *frames)
    }
    tied = pairs.get(("a", "b")) or pairs[("b", "a")]
    assert tied["tie"] and tied["missing"] is None
    better = pairs[("a", "c")]
    assert not better["tie"] and better["estimate"] > 0 and better["interval"][0] > 0

    stale = [frames[0], frames[1].assign(risk=frames[1]["risk"] * 0.5), None]
    histories[2]["latest"]["snapshot_id"] = "s2"
    missing = {
        (p["first"], p["second"]): p["missing"]
        for p in compare_algorithms(TRUST, *histories, *stale)
    }
    assert "another version's" in missing[("a", "b")]
    assert "no evaluation predictions" in missing[("a", "c")]
    frames_ok = [frames[0], frames[1], frames[2]]
    different = compare_algorithms(TRUST, *histories, *frames_ok)
    assert any("different snapshots" in (p["missing"] or "") for p in different)
