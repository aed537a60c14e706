"""The node of the training template that answers a care-management lead's questions.

Is acting on the model better than calling everyone or no one (net benefit over threshold
probabilities, ``decision_curves``), whom do we reach at our capacity and how many
readmissions does that catch (``operating_points``), and do the risks mean what they say
(``calibration_curve``). On the test and OOT windows; thresholds come from test only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diab_readmit.contracts import EVALUATION_WINDOWS

from .bootstrap import Resampling
from .calibration_curve import smoothed_calibration
from .decision_curves import decision_curve
from .group_performance import TrustSettings
from .operating_points import capacity_table


def _patients(scores: dict[str, np.ndarray]) -> np.ndarray:
    """Each row's patient; each row its own patient when the window has no patient_nbr."""
    return scores.get("patient_nbr", np.arange(len(scores["y_true"])))


def assess_decisions(
    test_scores: dict[str, np.ndarray],
    oot_scores: dict[str, np.ndarray],
    decision_threshold: dict[str, Any],
    trust: TrustSettings,
) -> dict[str, Any]:
    """Net benefit, operating points by capacity and smoothed calibration, test and OOT.

    Returns ``{"decision_curve": {window: decision_curve(...)}, "operating_points":
    {window: [rows]}, "smoothed_calibration": {window: {...}}, "decision_settings": {...}}``,
    every interval from the patient-resampled bootstrap of ``trust.bootstrap``, drawn from
    all patients at once (not by outcome): net benefit and calibration depend on the
    readmission rate, which an outcome-stratified draw would hold fixed.
    """
    resampling = Resampling(**trust.bootstrap.model_dump(), stratified=False)
    thresholds = trust.decision_curve.thresholds()
    scores = dict(zip(EVALUATION_WINDOWS, (test_scores, oot_scores), strict=True))
    curves, calibration = {}, {}
    for window, window_scores in scores.items():
        y, risk = window_scores["y_true"], window_scores["y_score"]
        patients = _patients(window_scores)
        curves[window] = decision_curve(y, risk, patients, thresholds, resampling)
        calibration[window] = smoothed_calibration(y, risk, patients, resampling)
    return {
        "decision_curve": curves,
        "operating_points": capacity_table(
            scores, decision_threshold, trust.capacities
        ),
        "smoothed_calibration": calibration,
        "decision_settings": {
            "thresholds": trust.decision_curve.model_dump(),
            "capacities": list(trust.capacities),
            "resampled": "patients (patient_nbr), all at once (not by outcome)",
            "threshold_window": decision_threshold["window"],
            "threshold_rule": decision_threshold["rule"],
        },
    }
