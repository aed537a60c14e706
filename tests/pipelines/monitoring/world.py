"""A small world to monitor, made with the project's own code end to end, in-process.

The synthetic generator writes a raw file and its January 2009 extract (drifted or not);
data_processing's nodes turn both into gold rows (the extract's history sees the file, as
``inference`` does); preprocessing's and training's nodes make a registered logistic
regression from the gold store; the model scores the extract as ``inference`` would, into
frames shaped like ``inference.predictions`` and ``inference.scored_features``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.config import OmegaConfigLoader

from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.parameter_models import TemporalSplits, TrainingConfig
from diab_readmit.pipelines.data_processing.nodes import (
    assign_encounter_dates,
    build_feature_store,
    build_label_store,
    build_silver_encounters,
    flag_cohort,
)
from diab_readmit.pipelines.data_processing.order_audit import audit_encounter_order
from diab_readmit.pipelines.data_processing.parameter_models import (
    CohortParams,
    EncounterDatesParams,
    OrderAuditParams,
)
from diab_readmit.pipelines.preprocessing.nodes import (
    assemble_snapshot,
    fit_scaler,
    join_features_and_labels,
    scale_windows,
    split_temporal_windows,
)
from diab_readmit.pipelines.preprocessing.parameter_models import PreprocessingParams
from diab_readmit.pipelines.preprocessing.prerequisites import (
    check_model_config,
    record_prerequisites,
)
from diab_readmit.pipelines.synthetic.nodes import generate_demo_files
from diab_readmit.pipelines.synthetic.parameter_models import (
    NextMonthDrift,
    SyntheticParams,
)
from diab_readmit.pipelines.training.decision_nodes import assess_decisions
from diab_readmit.pipelines.training.estimators import EstimatorSettings
from diab_readmit.pipelines.training.group_performance import TrustSettings
from diab_readmit.pipelines.training.nodes import (
    choose_decision_threshold,
    evaluate_windows,
    package_model,
    score_evaluation_windows,
    tune_hyperparameters,
)
from diab_readmit.pipelines.training.search import SearchSettings
from diab_readmit.pipelines.training.trust_nodes import (
    assess_trust,
    collect_evidence,
    explain_evaluation_windows,
)

from ..training.conftest import SMALL_ALGORITHMS, SMALL_TRAINING_CONFIG

CONF = Path(__file__).resolve().parents[3] / "conf"
ALGORITHM = "logistic_regression"
RAW = "data/01_raw/diabetic_data.csv"
EXTRACT = "2009-01.csv"
UNDRIFTED = NextMonthDrift(older_share=0.0, emergency_room_share=0.0)


def project_parameters() -> dict[str, Any]:
    return OmegaConfigLoader(
        conf_source=str(CONF), base_env="base", default_run_env="local"
    )["parameters"]


def gold_rows(
    raw: pd.DataFrame, extract: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(gold feature rows of the raw file, their labels, gold rows of the extract)."""
    as_text = {
        name: frame.astype(str).replace({"nan": ""})
        for name, frame in (("raw", raw), ("extract", extract))
    }
    # Outcomes are unknown at discharge; the extract's rows are their patients' last, so no
    # history feature reads their label.
    as_text["extract"]["readmitted"] = "NO"
    dated = pd.concat(
        [
            assign_encounter_dates(
                build_silver_encounters(as_text["raw"], RAW),
                EncounterDatesParams(),
                RAW,
            ),
            assign_encounter_dates(
                build_silver_encounters(as_text["extract"], EXTRACT),
                EncounterDatesParams(start_date="2009-01-01", end_date="2009-01-31"),
                EXTRACT,
            ),
        ],
        ignore_index=True,
    )
    audited, audit = audit_encounter_order(
        dated, OrderAuditParams(), EncounterDatesParams()
    )
    cohort = flag_cohort(audited, CohortParams())
    features = build_feature_store(cohort, audit)
    labels = build_label_store(cohort)
    new = features["partition_date"] >= pd.Timestamp("2009-01-01")
    known = labels["partition_date"] < pd.Timestamp("2009-01-01")
    return (
        features[~new].reset_index(drop=True),
        labels[known].reset_index(drop=True),
        features[new].reset_index(drop=True),
    )


def train_and_register(
    features: pd.DataFrame, labels: pd.DataFrame, registry: Path
) -> dict[str, Any]:
    """A logistic regression made by preprocessing's and training's nodes, registered."""
    parameters = project_parameters()
    splits = TemporalSplits(**parameters["temporal_splits"])
    preprocessing = PreprocessingParams(**parameters["preprocessing"])
    prerequisites = record_prerequisites(
        check_model_config(
            parameters["temporal_splits"],
            parameters["training_config"],
            parameters["preprocessing"],
        ),
        gold_sources={},
        partition_count=int(features["partition_date"].nunique()),
    )
    labelled, join_report = join_features_and_labels(features, labels, prerequisites)
    train, test, oot, split_report = split_temporal_windows(labelled, splits)
    scaler = fit_scaler(train, preprocessing)
    scaled = scale_windows(scaler, train, test, oot)
    snapshot = assemble_snapshot(
        *scaled, scaler, prerequisites, join_report, split_report
    )
    snapshot = replace(snapshot, snapshot_id="train_data_20261201_000000")
    config = TrainingConfig(**SMALL_TRAINING_CONFIG)
    estimator = EstimatorSettings(**SMALL_ALGORITHMS[ALGORITHM]["estimator"])
    search = SearchSettings(**SMALL_ALGORITHMS[ALGORITHM]["search"])
    tuned = tune_hyperparameters(snapshot, config, estimator, search)
    test_scores, oot_scores = score_evaluation_windows(tuned, snapshot)
    threshold = choose_decision_threshold(test_scores, config)
    metrics = evaluate_windows(test_scores, oot_scores, threshold)
    trust = TrustSettings(bootstrap={"replicates": 50})
    _, explanations = explain_evaluation_windows(
        tuned, snapshot, test_scores, oot_scores, threshold, trust
    )
    assessment = assess_trust(snapshot, test_scores, oot_scores, threshold, trust)
    bundle = package_model(
        tuned,
        snapshot,
        threshold,
        metrics,
        {},
        collect_evidence(
            explanations,
            assessment,
            assess_decisions(test_scores, oot_scores, threshold, trust),
        ),
        config,
        estimator,
        search,
    )
    registry_of_algorithm = ModelRegistryDataset(path=str(registry / ALGORITHM))
    registry_of_algorithm.save(bundle)
    return {**registry_of_algorithm.load(), "registrable": bundle}


def score(
    bundle: dict[str, Any], gold: pd.DataFrame, extract: str = EXTRACT
) -> pd.DataFrame:
    """Rows shaped like ``inference.predictions`` (the interface's columns)."""
    model = bundle["model"]
    risk = model.predict_proba(gold[list(model.feature_names_in_)])[:, 1]
    threshold = float(bundle["metadata"]["threshold"])
    return pd.DataFrame(
        {
            "encounter_id": gold["encounter_id"].astype(np.int64),
            "patient_nbr": gold["patient_nbr"].astype(np.int64),
            "partition_date": gold["partition_date"],
            "algorithm": ALGORITHM,
            "model_version": bundle["version_id"],
            "risk": risk,
            "risk_tier": pd.cut(
                risk, [0, 0.1, 0.25, 1], labels=["low", "medium", "high"]
            ).astype(str),
            "flagged": risk >= threshold,
            "extract": extract,
            "scored_at": pd.Timestamp(datetime.now(UTC)),
        }
    )


def make_world(tmp: Path, n_encounters: int = 40_000) -> dict[str, Any]:
    """The raw file's gold stores, a registered model, and January 2009 both ways."""
    drifted_blocks, drifted = generate_demo_files(
        SyntheticParams(n_encounters=n_encounters)
    )
    blocks, undrifted = generate_demo_files(
        SyntheticParams(n_encounters=n_encounters, next_month=UNDRIFTED)
    )
    # The raw file comes in blocks (one at this size): the frame the file would hold.
    drifted_raw = pd.concat(list(drifted_blocks), ignore_index=True)
    raw = pd.concat(list(blocks), ignore_index=True)
    features, labels, undrifted_gold = gold_rows(raw, undrifted)
    _, _, drifted_gold = gold_rows(drifted_raw, drifted)
    bundle = train_and_register(features, labels, tmp / "model_registry")
    return {
        "registry": tmp / "model_registry",
        "feature_store": features,
        "label_store": labels,
        "bundle": bundle,
        "drifted": {"gold": drifted_gold, "predictions": score(bundle, drifted_gold)},
        "undrifted": {
            "gold": undrifted_gold,
            "predictions": score(bundle, undrifted_gold),
        },
    }
