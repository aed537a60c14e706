"""Score raw-format encounters from Python (a notebook, another service), as ``inference`` does.

::

    import pandas as pd
    from diab_readmit.scoring import score

    raw = pd.read_csv("new_encounters/2009-01.csv", dtype=str, keep_default_na=False)
    history = pd.read_csv(
        "data/01_raw/diabetic_data.csv", dtype=str, keep_default_na=False
    )
    predictions = score(
        raw, "data/06_models/model_registry", month="2009-01", history=history
    )

``pickle.load(open(".../model.pkl", "rb"))`` would skip the checks: this loads the version
through the registry (complete, sha256 verified), checks the raw rows as data_processing
does, builds their features with data_processing's code (history from ``history`` and the
frame itself) and checks the model's inputs before scoring.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from diab_readmit.datasets.champions import RegistryChampionsDataset
from diab_readmit.datasets.model_registry import ModelRegistryDataset
from diab_readmit.pipelines.data_processing.parameter_models import (
    CohortParams,
    EncounterDatesParams,
    OrderAuditParams,
)
from diab_readmit.pipelines.inference.features import (
    build_scoring_features,
    date_extract,
    extract_month,
)
from diab_readmit.pipelines.inference.nodes import (
    ScoringError,
    choose_champion,
    score_rows,
)
from diab_readmit.pipelines.inference.parameter_models import (
    InferenceParams,
)


def load_model(
    registry: str,
    algorithm: str | None = None,
    version: str = "champion",
    credentials: dict | None = None,
) -> dict:
    """A registered model, checked: ``{"model", "metadata", "version_id", "algorithm"}``.

    Args:
        registry: the registry root (``<paths.model_registry>``, local or ``s3://``).
        algorithm: whose model; None with ``version="champion"``: the champion with the best
            test ROC-AUC.
        version: ``"champion"`` (what latest/ holds) or a version id ``v…``.
        credentials: fsspec credentials (s3fs ``key``/``secret``/``client_kwargs``).
    """
    if version == "champion":
        champions = RegistryChampionsDataset(path=registry, credentials=credentials)
        return choose_champion(champions.load(), InferenceParams(algorithm=algorithm))
    if algorithm is None:
        raise ScoringError(
            f"version '{version}' needs its algorithm: score(..., algorithm='xgboost', "
            f"version='{version}')."
        )
    bundle = ModelRegistryDataset(
        path=f"{registry.rstrip('/')}/{algorithm}",
        pinned_version=version,
        credentials=credentials,
    ).load()
    return {**bundle, "algorithm": algorithm}


def score(
    raw_encounters: pd.DataFrame,
    registry: str,
    algorithm: str | None = None,
    version: str = "champion",
    *,
    month: str | dt.date | None = None,
    history: pd.DataFrame | None = None,
    parameters: dict[str, Any] | None = None,
    credentials: dict | None = None,
) -> pd.DataFrame:
    """Risks of raw-format encounters by a registered model, as ``kedro run --pipelines
    inference`` computes them.

    Args:
        raw_encounters: the 50 UCI columns as text (``pd.read_csv(..., dtype=str,
            keep_default_na=False)``); ``readmitted`` absent or empty.
        registry: the registry root, e.g. ``data/06_models/model_registry``.
        algorithm, version: which model (see :func:`load_model`).
        month: the encounters' month (``"2009-01"``) when ``encounter_dates`` has no
            ``date_column``.
        history: earlier encounters in raw format (e.g. the raw file the gold store is
            built from), for the history features; None: only the frame itself.
        parameters: the project's parameters, or the part that matters here
            (``encounter_dates``, ``cohort``, ``order_audit``, ``inference.risk_tiers``
            and ``inference.reasons``);
            in a Kedro notebook ``catalog.load("parameters")``. Missing keys: defaults.
        credentials: fsspec credentials of the registry.

    Returns:
        One row per encounter in the cohort: encounter_id, patient_nbr, partition_date,
        algorithm, model_version, risk (calibrated probability), risk_tier, flagged
        (risk >= the model's registered threshold), the top reasons (``reason_<i>``,
        ``reason_<i>_feature``, ``reason_<i>_contribution``), extract (``"dataframe"``),
        scored_at.

    Raises:
        RawDataError: rows that fail data_processing's raw checks (naming column and line).
        ScoringError: no champion, or a model whose inputs the features lack.
        DatasetError: a version that is incomplete or fails its sha256 check.
    """
    parameters = parameters or {}
    encounter_dates = EncounterDatesParams(**parameters.get("encounter_dates", {}))
    inference = InferenceParams(**(parameters.get("inference") or {}))
    if isinstance(month, str):
        month = extract_month(month)
    champion = load_model(registry, algorithm, version, credentials)
    extract = date_extract(
        raw_encounters,
        "dataframe",
        "raw_encounters (DataFrame)",
        encounter_dates,
        month,
    )
    features = build_scoring_features(
        history,
        extract,
        encounter_dates,
        OrderAuditParams(**parameters.get("order_audit", {})),
        CohortParams(**parameters.get("cohort", {})),
        "history (DataFrame)",
    )
    return score_rows(features, champion, inference.risk_tiers, inference.reasons)
