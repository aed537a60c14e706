"""The report's trust sections: is the best model really better, how sure are the numbers,
does each model work for every group, why a patient is high-risk, and each model card.

``compare_algorithms`` is a node: the paired bootstrap difference of test ROC-AUC between
the latest versions of every two algorithms, on the same test rows and the same patient
replicates, so a "best" model that wins by less than the noise reads as a tie. It needs
each version's evaluation predictions (``<algorithm>.evaluation_predictions``, checked
against the fingerprint in its metadata) and both versions on the same snapshot.
``trust_sections`` gathers what the templates show from the versions' metadata.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from diab_readmit.model_card import net_benefit_rows
from diab_readmit.pipelines.training.bootstrap import Resampling, paired_auc_difference
from diab_readmit.pipelines.training.group_performance import TrustSettings
from diab_readmit.pipelines.training.trust_nodes import predictions_fingerprint

from .tables import algorithm_of


def _test_rows(history: dict[str, Any], predictions: pd.DataFrame | None):
    """The latest version's test predictions, or why there are none to compare."""
    latest = history.get("latest")
    if latest is None:
        return None, "not registered"
    expected = (latest.get("explanations") or {}).get("predictions_sha256")
    if predictions is None or expected is None:
        return None, "no evaluation predictions of this version on disk"
    if predictions_fingerprint(predictions) != expected:
        return None, "the evaluation predictions on disk are another version's"
    return predictions[predictions["window"] == "test"].reset_index(drop=True), None


def compare_algorithms(trust: TrustSettings, *inputs: Any) -> list[dict[str, Any]]:
    """Test ROC-AUC of each algorithm minus each other's, with its bootstrap interval.

    Args:
        trust: ``trust`` parameters (bootstrap replicates, seed, level).
        *inputs: every algorithm's ``model_registry@history``, then, in the same order,
            every algorithm's ``evaluation_predictions`` (None when absent).

    Returns:
        One row per pair, the higher test ROC-AUC first: ``first``, ``second``,
        ``estimate``, ``interval``, ``tie`` (the interval contains 0), or ``missing`` with
        the reason the pair cannot be compared.
    """
    half = len(inputs) // 2
    histories, predictions = inputs[:half], inputs[half:]
    resampling = Resampling(**trust.bootstrap.model_dump())
    rows = {}
    for history, frame in zip(histories, predictions, strict=True):
        rows[algorithm_of(history)] = (history, *_test_rows(history, frame))
    pairs = []
    for a, b in combinations(rows, 2):
        (history_a, test_a, why_a), (history_b, test_b, why_b) = rows[a], rows[b]
        missing = why_a and f"{a}: {why_a}" or why_b and f"{b}: {why_b}"
        if not missing and (
            history_a["latest"].get("snapshot_id")
            != history_b["latest"].get("snapshot_id")
            or not np.array_equal(test_a["encounter_id"], test_b["encounter_id"])
        ):
            missing = "trained on different snapshots, so not on the same test rows"
        if missing:
            pairs.append({"first": a, "second": b, "missing": missing})
            continue
        measured = paired_auc_difference(
            test_a["readmitted_30d"].to_numpy(),
            test_a["risk"].to_numpy(),
            test_b["risk"].to_numpy(),
            test_a["patient_nbr"].to_numpy(),
            resampling,
        )
        first, second = (a, b) if measured["estimate"] >= 0 else (b, a)
        if first != a:
            measured = {
                **measured,
                "estimate": -measured["estimate"],
                "interval": [-measured["interval"][1], -measured["interval"][0]],
            }
        pairs.append({"first": first, "second": second, "missing": None, **measured})
    return pairs


def trust_sections(histories: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """Per registered algorithm: intervals, group tables, example reasons, model card."""
    sections = []
    for history in histories:
        latest = history.get("latest")
        if latest is None:
            continue
        explanations = latest.get("explanations") or {}
        sections.append(
            {
                "algorithm": algorithm_of(history),
                "version_id": latest.get("version_id"),
                "intervals": latest.get("intervals"),
                "bootstrap": latest.get("bootstrap"),
                "groups": latest.get("groups"),
                "group_settings": latest.get("group_settings") or {},
                "method": explanations.get("method"),
                "unit": explanations.get("unit"),
                "examples": explanations.get("examples") or [],
                "model_card": history.get("model_card"),
                **decision_section(latest),
            }
        )
    return sections


def decision_section(latest: dict[str, Any]) -> dict[str, Any]:
    """A version's decision curve (with the rows the tables show), operating points and
    smoothed calibration, None where its metadata predates them."""
    curves = latest.get("decision_curve")
    return {
        "decision_curve": curves,
        "net_benefit_rows": {
            window: net_benefit_rows(curve) for window, curve in (curves or {}).items()
        },
        "operating_points": latest.get("operating_points"),
        "smoothed_calibration": latest.get("smoothed_calibration"),
        "threshold_rule": latest.get("threshold_rule"),
    }
