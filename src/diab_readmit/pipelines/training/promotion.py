"""The champion gate: does a newly trained version replace the current champion (``latest/``)?

Two tests, both on the TEST window only (OOT is never used to decide anything):

1. **Floors** (``promotion.floors``): the challenger's own test ROC-AUC, Brier score and
   expected calibration error must clear absolute limits; optionally also sensitivity and
   PPV at an operating point (``floors.operating_point``: the top ``capacity`` of the test
   window flagged).
2. **Non-inferiority** against the current champion, **paired**: the champion is rescored on
   the challenger's test encounters, and on those same rows the challenger's metric
   (``promotion.non_inferiority.metric``, default ROC-AUC) may be at most ``tolerance``
   (default 0.005) worse. The champion scores them as it would in production: its own
   scaler on their gold rows. When both come from the same snapshot, the snapshot's scaled
   test rows are exactly that; otherwise the gold rows come from the feature store. A
   champion whose inputs the rows do not have (another feature list), or whose rows cover
   less than ``min_paired_share`` of the test window, is compared on floors only, and the
   record says so.

The decision travels in the version's metadata (``gate``); the registry derives
``latest/`` and every version's status from it (datasets/model_registry.py).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from diab_readmit.contracts import PreprocessedSnapshot
from diab_readmit.datasets.delta_views import GoldRows
from diab_readmit.datasets.model_registry import HELD, PROMOTED, REJECTED
from diab_readmit.datasets.parquet_window import Window, column_values
from diab_readmit.datasets.raw_provenance import describe

from . import evaluation, operating_points
from .model_matrix import window_risks

logger = logging.getLogger(__name__)

#: Metrics where lower is better.
_LOWER_IS_BETTER = frozenset({"brier", "ece"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OperatingPointFloor(_Strict):
    """``promotion.floors.operating_point``: limits at a capacity, e.g. "at 20% of
    encounters flagged the model must find at least 35% of the readmissions"."""

    capacity: float = Field(gt=0.0, lt=1.0)
    min_sensitivity: float | None = Field(default=None, ge=0.0, le=1.0)
    min_ppv: float | None = Field(default=None, ge=0.0, le=1.0)


class Floors(_Strict):
    """``promotion.floors``: limits on the challenger's own TEST metrics."""

    min_auc_roc: float = Field(default=0.60, ge=0.0, le=1.0)
    max_brier: float = Field(default=0.20, ge=0.0, le=1.0)
    max_ece: float = Field(default=0.10, ge=0.0, le=1.0)
    operating_point: OperatingPointFloor | None = None


class NonInferiority(_Strict):
    """``promotion.non_inferiority``: how much worse than the champion, paired, is allowed."""

    metric: Literal["auc_roc", "pr_auc", "brier"] = "auc_roc"
    tolerance: float = Field(default=0.005, ge=0.0, le=1.0)
    min_paired_share: float = Field(default=0.9, gt=0.0, le=1.0)


class PromotionParams(_Strict):
    """``promotion``: the champion gate of every algorithm.

    ``auto_promote: false`` keeps even a passing version out of ``latest/`` (status
    ``candidate``) until someone runs the ``promote`` pipeline.
    """

    auto_promote: bool = True
    floors: Floors = Field(default_factory=Floors)
    non_inferiority: NonInferiority = Field(default_factory=NonInferiority)


def _floor_failures(test: dict[str, Any], floors: Floors) -> list[str]:
    checks = [
        ("auc_roc", "ROC-AUC", floors.min_auc_roc, False),
        ("brier", "Brier", floors.max_brier, True),
        ("ece", "calibration error (ECE)", floors.max_ece, True),
    ]
    failures = []
    for key, label, limit, upper in checks:
        value = float(test.get(key, np.nan))
        if np.isnan(value) or (value > limit if upper else value < limit):
            bound = "above the ceiling" if upper else "below the floor"
            failures.append(f"test {label} {value:.4f} is {bound} {limit:.4f}")
    return failures


def _operating_point_failures(
    test_scores: dict[str, np.ndarray], floor: OperatingPointFloor | None
) -> tuple[list[str], dict[str, Any] | None]:
    """Failures of the floors stated at a capacity of the test window, and what was measured."""
    if floor is None:
        return [], None
    y_true, y_score = test_scores["y_true"], test_scores["y_score"]
    threshold = operating_points.capacity_threshold(y_score, floor.capacity)
    measured = operating_points.operating_point(y_true, y_score, threshold, months=1)
    failures = []
    for key, label, limit in (
        ("sensitivity", "sensitivity", floor.min_sensitivity),
        ("ppv", "PPV", floor.min_ppv),
    ):
        value = measured[key]
        if limit is not None and (value is None or value < limit):
            shown = "undefined" if value is None else f"{value:.4f}"
            failures.append(
                f"test {label} at {floor.capacity:.0%} capacity {shown} is below the "
                f"floor {limit:.4f}"
            )
    return failures, {"capacity": floor.capacity, **measured}


def _champion_scores(
    champion: dict[str, Any],
    test: Window,
    snapshot_id: str | None,
    features: list[str],
    gold_rows: GoldRows | None,
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """The champion's risks on the challenger's test rows: (positions, risks, how)."""
    model, metadata = champion["model"], champion["metadata"]
    if (
        metadata.get("snapshot_id") == snapshot_id
        and metadata.get("feature_columns") == features
    ):
        classifier = model.named_steps["classifier"]
        risks = window_risks(classifier, test, features)
        return np.arange(len(test)), risks, "the snapshot's scaled test rows"
    scaler = model.named_steps["preprocess"]
    needed = [str(c) for c in getattr(scaler, "feature_names_in_", [])]
    if gold_rows is None:
        return None, None, "no gold feature store to rescore it on"
    missing = [c for c in needed if c not in gold_rows.columns]
    if not needed or missing:
        return (
            None,
            None,
            f"its inputs do not fit the new data: the gold rows lack {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}",
        )
    dates = pd.to_datetime(test["partition_date"])
    encounters = column_values(test, "encounter_id")
    rows = gold_rows.read(
        ["encounter_id", *[c for c in needed if c != "encounter_id"]],
        dates.min(),
        dates.max(),
    )
    rows = rows.drop_duplicates("encounter_id").set_index("encounter_id")
    found = np.isin(encounters, rows.index.to_numpy())
    positions = np.flatnonzero(found)
    if not len(positions):
        return None, None, "none of the test encounters are in the gold feature store"
    ordered = rows.loc[encounters[positions]].reset_index()
    risks = model.predict_proba(ordered[needed])[:, 1]
    return positions, risks, "the test encounters' gold rows, with its own scaler"


def gate_challenger(
    model_package: dict[str, Any],
    test_scores: dict[str, np.ndarray],
    preprocessed_snapshot: PreprocessedSnapshot,
    champion: dict[str, Any] | None,
    gold_rows: GoldRows | None,
    promotion: PromotionParams,
) -> dict[str, Any]:
    """Decide whether the new version replaces the champion; the record for its metadata.

    Args:
        model_package: the bundle ``package_model`` made (its metadata has the TEST metrics).
        test_scores: the challenger's TEST window risks and labels.
        preprocessed_snapshot: the challenger's snapshot (its test rows).
        champion: the current champion (sha256 verified) or None.
        gold_rows: the gold feature store, read lazily, or None.
        promotion: floors, non-inferiority, auto_promote.

    Returns:
        ``{"decision": promoted | rejected | held, "passed", "reasons", "compared_with",
        "paired", "paired_rows", "challenger", "champion", "floors", "non_inferiority"}``.
    """
    test_metrics = model_package["metadata"]["performance"]["test"]
    at_capacity, operating_point = _operating_point_failures(
        test_scores, promotion.floors.operating_point
    )
    reasons = _floor_failures(test_metrics, promotion.floors) + at_capacity
    rule = promotion.non_inferiority
    record: dict[str, Any] = {
        "compared_with": None,
        "paired": False,
        "paired_rows": 0,
        "challenger": {k: test_metrics.get(k) for k in ("auc_roc", "brier", "ece")},
        "champion": None,
        "floors": promotion.floors.model_dump(),
        "operating_point": operating_point,
        "non_inferiority": rule.model_dump(),
        "window": "test",
    }
    if champion is None:
        record["comparison"] = "no champion yet: floors only"
    else:
        record["compared_with"] = champion["version_id"]
        test = preprocessed_snapshot.test
        other_data = _trained_on_other_data(champion, model_package)
        if other_data:
            # A model of another raw file (the demo's, say) is not a comparison: floors only.
            positions, risks, how = None, None, other_data
        else:
            positions, risks, how = _champion_scores(
                champion,
                test,
                preprocessed_snapshot.snapshot_id,
                model_package["metadata"]["feature_columns"],
                gold_rows,
            )
        share = 0.0 if positions is None else len(positions) / max(len(test), 1)
        if positions is not None and share < rule.min_paired_share:
            how = (
                f"only {share:.0%} of the test encounters could be rescored (minimum "
                f"{rule.min_paired_share:.0%})"
            )
            positions = None
        if positions is None:
            record["comparison"] = (
                f"champion {champion['version_id']} not rescored ({how}): floors only"
            )
        else:
            y_true = test_scores["y_true"][positions]
            mine = evaluation.window_metrics(
                y_true, test_scores["y_score"][positions], 0.5
            )[rule.metric]
            theirs = evaluation.window_metrics(y_true, risks, 0.5)[rule.metric]
            lower = rule.metric in _LOWER_IS_BETTER
            margin = (theirs - mine) if not lower else (mine - theirs)
            record.update(
                paired=True,
                paired_rows=int(len(positions)),
                champion={"version_id": champion["version_id"], rule.metric: theirs},
                paired_metric={"challenger": mine, "champion": theirs},
                comparison=f"paired on {len(positions)} test rows ({how})",
            )
            verdict = (
                f"paired test {rule.metric} {mine:.4f} against champion "
                f"{champion['version_id']}'s {theirs:.4f}"
            )
            if margin > rule.tolerance:
                reasons.append(
                    f"{verdict}: {margin:.4f} worse (tolerance {rule.tolerance})"
                )
            else:
                record["verdict"] = f"{verdict}: within tolerance {rule.tolerance}"
    passed = not reasons
    decision = REJECTED if not passed else PROMOTED if promotion.auto_promote else HELD
    if passed:
        reasons = ["floors met", record.get("verdict", record["comparison"])]
        if decision == HELD:
            reasons.append("auto_promote is off: promote it by hand")
    record.update(decision=decision, passed=passed, reasons=reasons)
    shown = list(record["reasons"])
    if record["comparison"] not in shown:  # a passing version's reasons already say it
        shown.append(record["comparison"])
    logger.info("Champion gate: %s (%s)", decision, "; ".join(shown))
    return record


def _trained_on_other_data(
    champion: dict[str, Any], model_package: dict[str, Any]
) -> str | None:
    """Why the champion was trained on another raw file than the challenger, or None."""

    def source(metadata: dict[str, Any]) -> dict[str, Any] | None:
        return (metadata.get("population") or {}).get("raw_source")

    theirs = source(champion.get("metadata") or {})
    mine = source(model_package["metadata"])
    if not theirs or not mine or theirs.get("sha256") == mine.get("sha256"):
        return None
    return f"it was trained on {describe(theirs)}, this version on {describe(mine)}"


def attach_gate_decision(
    model_package: dict[str, Any], gate_decision: dict[str, Any]
) -> dict[str, Any]:
    """The registry bundle: the package with the gate's record in its metadata."""
    return {
        **model_package,
        "metadata": {**model_package["metadata"], "gate": gate_decision},
    }


def gate_outcome(history: dict[str, Any]) -> dict[str, Any]:
    """What the champion gate made of an algorithm's newest version, for a scheduler's log.

    Args:
        history: ``<algorithm>.model_registry@history`` (``contracts.RegistryHistory``).

    Returns:
        ``algorithm``, ``newest`` (version id or None), ``status`` (its versions.json
        status), ``champion`` (what latest/ holds), ``reasons`` (the gate's) and ``message``
        (one line saying it all).
    """
    algorithm = history["algorithm"]
    champion = history.get("champion")
    versions = history.get("versions") or []
    if not versions:
        return {
            "algorithm": algorithm,
            "newest": None,
            "status": None,
            "champion": None,
            "reasons": [],
            "message": f"{algorithm}: no version registered yet",
        }
    newest = versions[-1]
    status = newest.get("status")
    reasons = list((newest.get("gate") or {}).get("reasons") or [])
    if status == REJECTED:
        message = (
            f"{algorithm}: {newest['id']} was registered but REJECTED by the champion gate "
            f"({'; '.join(reasons) or 'no reason recorded'}); latest/ still holds "
            f"{champion or 'no champion'}"
        )
    elif newest["id"] == champion:
        message = f"{algorithm}: {newest['id']} passed the champion gate and is latest/"
    else:
        message = (
            f"{algorithm}: newest version {newest['id']} is {status}; latest/ holds "
            f"{champion or 'no champion'}"
        )
    return {
        "algorithm": algorithm,
        "newest": newest["id"],
        "status": status,
        "champion": champion,
        "reasons": reasons,
        "message": message,
    }
