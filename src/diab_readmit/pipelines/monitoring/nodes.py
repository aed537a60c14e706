"""Nodes of the ``monitoring`` pipeline: the scored months against the model's own windows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from diab_readmit.contracts import LABEL
from diab_readmit.datasets.raw_provenance import describe
from diab_readmit.errors import UserFixableError

from .drift import drift_table
from .estimation import estimated_performance
from .figures import draw_charts
from .parameter_models import MonitoringParams
from .performance import monthly_performance
from .report import render_report
from .status import RISK, assess

_NOTHING = {"algorithm": None, "version_id": None, "model": None, "metadata": {}}


class MonitoringError(UserFixableError, ValueError):
    """The scored months cannot be compared with their model; the message says why."""


def model_inputs(model: Any) -> list[str]:
    """The gold feature-store columns a registered model reads (its scaler's inputs)."""
    return [str(column) for column in model.feature_names_in_]


def choose_monitored_model(
    predictions: pd.DataFrame, scoring_models: dict[str, Callable[[], dict[str, Any]]]
) -> dict[str, Any]:
    """The model version that scored most recently, loaded with its sha256 checked.

    Args:
        predictions: ``inference.predictions`` (``algorithm``, ``model_version``,
            ``scored_at`` per scored encounter).
        scoring_models: ``model_registry_versions``, a loader per registered version.

    Returns:
        ``{"algorithm", "version_id", "model", "metadata"}``; all empty if nothing is scored.
    """
    if predictions.empty:
        return dict(_NOTHING)
    latest = predictions.loc[pd.to_datetime(predictions["scored_at"]).idxmax()]
    key = f"{latest['algorithm']}/{latest['model_version']}"
    if key not in scoring_models:
        raise MonitoringError(
            f"inference.predictions were last scored by model {key}, which is not in the "
            f"model registry (registered: {', '.join(sorted(scoring_models)) or 'none'}). "
            f"Restore that version, or rescore with `kedro run --pipelines inference "
            f"--params inference.rescore=true`."
        )
    bundle = scoring_models[key]()
    return {
        "algorithm": str(latest["algorithm"]),
        "version_id": str(latest["model_version"]),
        "model": bundle["model"],
        "metadata": bundle["metadata"],
    }


def _window(rows: pd.DataFrame, window: dict[str, str]) -> pd.DataFrame:
    dates = pd.to_datetime(rows["partition_date"])
    start, end = pd.Timestamp(window["start_date"]), pd.Timestamp(window["end_date"])
    return rows[(dates >= start) & (dates <= end)]


def _require_columns(rows: pd.DataFrame, columns: list[str], where: str, model) -> None:
    missing = [column for column in columns if column not in rows.columns]
    if missing:
        raise MonitoringError(
            f"{where} has no column(s) {missing[:5]} that model {model['algorithm']} "
            f"{model['version_id']} reads: the gold features were built by other code than "
            f"the model was trained on. Rebuild them (`kedro run --pipelines "
            f"data_processing`) or retrain and rescore."
        )


def select_reference(
    feature_store: pd.DataFrame,
    monitored_model: dict[str, Any],
    monitoring: MonitoringParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's train window (its inputs) and its risks on ``risk_reference_window``.

    Gold feature rows of the windows in the model's registry metadata, so the reference
    holds the same raw values the month's rows do (PSI bins come from these quantiles).

    Returns:
        The train-window rows (model inputs only) and a frame with the ``risk`` the model
        gives each row of the risk reference window.
    """
    if monitored_model["model"] is None:
        return pd.DataFrame(), pd.DataFrame({RISK: []})
    _require_same_raw_file(feature_store, monitored_model)
    inputs = model_inputs(monitored_model["model"])
    _require_columns(feature_store, inputs, "feature_store", monitored_model)
    windows = monitored_model["metadata"]["temporal_splits"]
    train = _window(feature_store, windows["train"])[inputs]
    scored = _window(feature_store, windows[monitoring.risk_reference_window])[inputs]
    risk = monitored_model["model"].predict_proba(scored)[:, 1]
    return train.reset_index(drop=True), pd.DataFrame({RISK: risk})


def _require_same_raw_file(
    feature_store: pd.DataFrame, monitored_model: dict[str, Any]
) -> None:
    """The reference is the model's train window in the gold stores: they must hold the
    raw file the model was trained on (not, say, the real file after a demo model scored)."""
    trained_on = (monitored_model["metadata"].get("population") or {}).get("raw_source")
    in_store = feature_store.attrs.get("raw_source")
    if not trained_on or not in_store or trained_on["sha256"] == in_store["sha256"]:
        return
    raise MonitoringError(
        f"The model that scored last, {monitored_model['algorithm']} "
        f"{monitored_model['version_id']}, was trained on {describe(trained_on)}, but the "
        f"gold stores now hold {describe(in_store)}: its reference is gone. Delete the old "
        f"predictions (the paths.predictions and paths.scored_features folders), then score "
        f"and monitor again with the current champion: `kedro run --pipelines batch`."
    )


def select_current(
    predictions: pd.DataFrame,
    scored_features: pd.DataFrame,
    label_store: pd.DataFrame,
    monitored_model: dict[str, Any],
) -> pd.DataFrame:
    """The monitored model's scored encounters: month, risk, model inputs and outcome.

    Returns:
        One row per encounter the model scored: ``encounter_id``, ``partition_date``,
        ``risk``, its inputs from ``inference.scored_features`` and ``readmitted_30d`` from
        the label store (missing until a later ``data_processing`` run brings it).
    """
    if monitored_model["model"] is None:
        return pd.DataFrame(columns=["encounter_id", "partition_date", RISK, LABEL])
    inputs = model_inputs(monitored_model["model"])
    _require_columns(
        scored_features, inputs, "inference.scored_features", monitored_model
    )
    mine = predictions[
        (predictions["algorithm"] == monitored_model["algorithm"])
        & (predictions["model_version"] == monitored_model["version_id"])
    ][["encounter_id", "partition_date", RISK]]
    # A copy is one block: the store loads a block per column, which merge would warn about.
    current = mine.merge(
        scored_features[["encounter_id", *inputs]].copy(),
        on="encounter_id",
        how="left",
        validate="one_to_one",
        indicator=True,
    )
    unmatched = current["_merge"] == "left_only"
    if unmatched.any():
        raise MonitoringError(
            f"{int(unmatched.sum())} scored encounters (e.g. encounter_id "
            f"{int(current.loc[unmatched, 'encounter_id'].iloc[0])}) have no row in "
            f"inference.scored_features, so their inputs cannot be compared. Rescore with "
            f"`kedro run --pipelines inference --params inference.rescore=true`."
        )
    current = current.drop(columns="_merge").merge(
        label_store[["encounter_id", LABEL]], on="encounter_id", how="left"
    )
    return current.assign(partition_date=pd.to_datetime(current["partition_date"]))


def measure_drift(
    reference_features: pd.DataFrame,
    reference_risk: pd.DataFrame,
    current: pd.DataFrame,
    monitoring: MonitoringParams,
) -> pd.DataFrame:
    """PSI (and KS for numerics) of every model input and of ``risk``, per month."""
    inputs = [column for column in reference_features.columns]
    return pd.concat(
        [
            drift_table(reference_risk, current, [RISK], monitoring.drift),
            drift_table(reference_features, current, inputs, monitoring.drift),
        ],
        ignore_index=True,
    )


def measure_performance(
    current: pd.DataFrame, monitoring: MonitoringParams
) -> pd.DataFrame:
    """Observed against expected readmissions, ROC-AUC, PR-AUC, Brier and calibration."""
    return monthly_performance(current, monitoring.performance)


def estimate_performance(
    current: pd.DataFrame,
    monitored_model: dict[str, Any],
    monitoring: MonitoringParams,
) -> pd.DataFrame:
    """Each month's ROC-AUC, rate, sensitivity and PPV as its calibrated risks expect them,
    before its outcomes arrive, and the realised values beside them once they have."""
    if monitored_model["model"] is None:
        return estimated_performance(current, 0.5, monitoring.estimation)
    threshold = float(monitored_model["metadata"]["threshold"])
    return estimated_performance(current, threshold, monitoring.estimation)


def _model_summary(
    monitored_model: dict[str, Any], monitoring: MonitoringParams
) -> dict[str, Any]:
    metadata = monitored_model["metadata"]
    test = (metadata.get("performance") or {}).get("test") or {}
    return {
        "algorithm": monitored_model["algorithm"],
        "version_id": monitored_model["version_id"],
        "snapshot_id": metadata.get("snapshot_id"),
        "train_window": (metadata.get("temporal_splits") or {}).get("train"),
        "risk_reference_window": monitoring.risk_reference_window,
        "test_auc_roc": test.get("auc_roc"),
        "auc_floor": monitoring.estimation.auc_floor
        if monitoring.estimation.auc_floor is not None
        else ((metadata.get("gate") or {}).get("floors") or {}).get("min_auc_roc"),
        "threshold": metadata.get("threshold"),
        "training_samples": metadata.get("training_samples"),
    }


def decide_status(
    drift: pd.DataFrame,
    performance: pd.DataFrame,
    estimated: pd.DataFrame,
    monitored_model: dict[str, Any],
    reference_features: pd.DataFrame,
    monitoring: MonitoringParams,
) -> dict[str, Any]:
    """``monitoring_status.json``: ``ok`` / ``warn`` / ``alert``, the reasons, the months.

    The status is the worst level found: a model input or the risk drifting beyond the PSI
    thresholds, a month's ROC-AUC estimated from its risks below the model's floor (before
    outcomes), or (once outcomes are in) ROC-AUC below the model's test ROC-AUC or risks
    miscalibrated beyond the thresholds of ``monitoring``. Each month carries its estimate
    (``estimated``), so a scheduler can act on it.
    """
    model = _model_summary(monitored_model, monitoring)
    notes = []
    if model["version_id"] is None:
        notes.append(
            (
                "warn",
                "nothing to monitor: no scored encounters in inference.predictions. Put "
                "new extracts in data/01_raw/new_encounters/ and run `kedro run "
                "--pipelines inference`.",
            )
        )
    elif model["training_samples"] and len(reference_features) != int(
        model["training_samples"]
    ):
        notes.append(
            (
                "warn",
                f"the feature store holds {len(reference_features)} encounters in the "
                f"model's train window, the model was trained on "
                f"{model['training_samples']}: the gold store was rebuilt since, so the "
                f"reference is not exactly the model's",
            )
        )
    verdict = assess(drift, performance, estimated, model, notes, monitoring)
    return {
        **verdict,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model,
        "thresholds": monitoring.model_dump(mode="json"),
    }


def draw_monitoring_charts(
    drift: pd.DataFrame,
    current: pd.DataFrame,
    reference_risk: pd.DataFrame,
    performance: pd.DataFrame,
    monitoring: MonitoringParams,
) -> tuple[dict[str, Figure], dict[str, bytes]]:
    """Drift by feature, risk over months, calibration over months: figures and PNGs."""
    return draw_charts(
        drift,
        current,
        reference_risk[RISK].to_numpy(np.float64),
        performance,
        monitoring,
    )


def render_monitoring_report(
    status: dict[str, Any],
    drift: pd.DataFrame,
    performance: pd.DataFrame,
    estimated: pd.DataFrame,
    chart_images: dict[str, bytes],
) -> str:
    """``monitoring_report.html``: one self-contained page (charts embedded as PNG)."""
    return render_report(status, drift, performance, estimated, chart_images)
