"""Registry history views shaped like ``<algorithm>.model_registry@history`` loads."""

from __future__ import annotations

import io
from typing import Any

import pytest
from matplotlib.figure import Figure

METRICS = ("accuracy", "precision", "recall", "f1", "auc_roc", "pr_auc", "brier")


def png_bytes(title: str) -> bytes:
    figure = Figure(figsize=(3, 2))
    figure.subplots().plot([0, 1], [0, 1])
    figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def make_history(
    algorithm: str,
    test_auc: list[float] | None = None,
    oot_auc: list[float] | None = None,
    plots: dict[str, bytes] | None = None,
    brier: tuple[float, float] = (0.2, 0.21),
) -> dict[str, Any]:
    """One algorithm's history: a version per entry of ``test_auc``; none means never registered."""
    if not test_auc:
        return {"algorithm": algorithm, "latest": None, "versions": []}
    oot_auc = oot_auc or [score - 0.01 for score in test_auc]
    versions = [
        {
            "id": f"v2026010{index}_120000",
            "created_at": f"2026-01-0{index}T12:00:00",
            "test_auc_roc": test,
            "oot_auc_roc": oot,
            "snapshot_id": "train_data_20260101_000000",
            "sha256": f"{index:02d}" * 32,
        }
        for index, (test, oot) in enumerate(
            zip(test_auc, oot_auc, strict=True), start=1
        )
    ]

    def window(auc: float, brier_score: float) -> dict[str, float]:
        scores = {
            metric: round(auc - 0.1 - 0.01 * rank, 4)
            for rank, metric in enumerate(METRICS)
        }
        return {**scores, "auc_roc": auc, "brier": brier_score}

    latest = {
        "model_name": algorithm,
        "version_id": versions[-1]["id"],
        "training_date": versions[-1]["created_at"],
        "temporal_splits": {},
        "feature_count": 80,
        "training_samples": 1000,
        "test_samples": 300,
        "oot_samples": 150,
        "performance": {
            "test": window(test_auc[-1], brier[0]),
            "oot": window(oot_auc[-1], brier[1]),
        },
        "config": {},
        "best_params": {"C": 0.1},
        "cv_score": 0.6,
        "threshold": 0.37,
        "snapshot_id": "train_data_20260101_000000",
        "training_seconds": 2.5,
        "sha256": versions[-1]["sha256"],
    }
    history: dict[str, Any] = {
        "algorithm": algorithm,
        "latest": latest,
        "versions": versions,
    }
    if plots is not None:
        history["plots"] = plots
    return history


@pytest.fixture
def histories() -> list[dict[str, Any]]:
    """LR and RF registered (RF best on test, LR best on OOT); XGBoost never registered."""
    plots = {
        "roc_curve.png": png_bytes("roc"),
        "calibration.png": png_bytes("calibration"),
    }
    return [
        make_history("logistic_regression", [0.60, 0.61], [0.64, 0.66], plots=plots),
        make_history(
            "random_forest", [0.62, 0.63, 0.65], [0.60, 0.61, 0.62], plots=plots
        ),
        make_history("xgboost"),
    ]
