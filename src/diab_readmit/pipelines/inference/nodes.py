"""Nodes of the ``inference`` pipeline: pick the champion, score what is new, tier the risks.

Features come from ``features.py`` (data_processing's own code); this module only decides
what to score and turns the champion's calibrated probabilities into the predictions table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from diab_readmit.datasets.champions import Champion
from diab_readmit.datasets.raw_provenance import describe, same_data
from diab_readmit.errors import UserFixableError
from diab_readmit.number_format import format_number
from diab_readmit.pipelines.training.explanations import top_reasons

from .features import EXTRACT
from .parameter_models import InferenceParams, RiskTiers

logger = logging.getLogger(__name__)

#: The predictions table, in this order (docs: the interface with monitoring); the reason
#: columns (``reason_<i>``, ``reason_<i>_feature``, ``reason_<i>_contribution``) follow
#: ``flagged`` when ``inference.reasons`` > 0.
PREDICTION_COLUMNS = [
    "encounter_id",
    "patient_nbr",
    "partition_date",
    "algorithm",
    "model_version",
    "risk",
    "risk_tier",
    "flagged",
    EXTRACT,
    "scored_at",
]


#: Rows per block of the reasons' computation.
REASON_BLOCK_ROWS = 100_000


class ScoringError(UserFixableError, ValueError):
    """No champion to score with, or a model whose inputs the features do not provide."""


def choose_champion(
    champions: dict[str, Champion], inference: InferenceParams
) -> dict[str, Any]:
    """The champion that scores: of ``inference.algorithm``, or the best on TEST ROC-AUC.

    Returns:
        ``{"model", "metadata", "version_id", "algorithm"}``, model.pkl's sha256 verified.
    """
    if not champions:
        raise ScoringError(
            "No algorithm has a champion in the model registry, so nothing can score new "
            "encounters. Train one (`kedro run`), or promote a registered version "
            "(`kedro run --pipelines promote --params promote.algorithm=...,"
            'promote.version=...,promote.reason="..."`).'
        )
    if inference.algorithm is None:
        chosen = max(
            champions.values(),
            key=lambda c: (
                (c.metadata.get("performance") or {})
                .get("test", {})
                .get("auc_roc", float("-inf"))
            ),
        )
    elif inference.algorithm in champions:
        chosen = champions[inference.algorithm]
    else:
        raise ScoringError(
            f"inference.algorithm is '{inference.algorithm}', which has no champion; "
            f"algorithms with one: {sorted(champions)}. Train it or choose another."
        )
    bundle = chosen.load()
    logger.info(
        "Scoring with %s %s (champion; test ROC-AUC %s; sha256 %s verified)",
        bundle["algorithm"],
        bundle["version_id"],
        format_number(
            (bundle["metadata"].get("performance") or {}).get("test", {}).get("auc_roc")
        ),
        str(bundle["metadata"].get("sha256"))[:12],
    )
    return bundle


def model_inputs(model: Any, metadata: dict[str, Any], rows: pd.DataFrame) -> list[str]:
    """The gold columns the registered model reads, checked against ``rows``.

    The model is ``Pipeline(snapshot scaler, classifier)``: it scores only with the feature
    list and scaler it was trained with, so a missing input or a scaler that does not produce
    the registered ``feature_columns`` is refused.
    """
    version = f"{metadata.get('model_name')} {metadata.get('version_id')}"
    scaler = model.named_steps["preprocess"]
    produced = [str(c) for c in scaler.get_feature_names_out()]
    if produced != list(metadata.get("feature_columns") or []):
        raise ScoringError(
            f"Model {version}: its scaler produces {len(produced)} inputs that are not its "
            f"registered feature_columns in the same order; the version is inconsistent. "
            f"Promote another version."
        )
    needed = [str(c) for c in scaler.feature_names_in_]
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        raise ScoringError(
            f"Model {version} was trained with inputs the new encounters' features lack: "
            f"{missing[:8]}{'...' if len(missing) > 8 else ''}. Its snapshot was built with "
            f"other data_processing settings (e.g. encounter_dates.date_column); score with a "
            f"model trained on the current settings, or restore them."
        )
    return needed


def risk_tier(risk: np.ndarray, tiers: RiskTiers) -> np.ndarray:
    """``low`` / ``medium`` / ``high`` by the configured cut-points."""
    return np.select(
        [risk >= tiers.high_from, risk >= tiers.medium_from],
        ["high", "medium"],
        default="low",
    )


def score_rows(
    rows: pd.DataFrame, champion: dict[str, Any], tiers: RiskTiers, reasons: int = 3
) -> pd.DataFrame:
    """The predictions table of gold feature ``rows`` (with ``extract``) by ``champion``.

    ``reasons`` > 0 adds each encounter's top reasons (the model's own additive
    contributions, as in the evaluation: ``explanations.top_reasons``) after ``flagged``.
    """
    model, metadata = champion["model"], champion["metadata"]
    needed = model_inputs(model, metadata, rows)
    risk = (
        model.predict_proba(rows[needed])[:, 1].astype(np.float64)
        if len(rows)
        else np.empty(0)
    )
    table = pd.DataFrame(
        {
            "encounter_id": rows["encounter_id"].to_numpy(dtype=np.int64),
            "patient_nbr": rows["patient_nbr"].to_numpy(dtype=np.int64),
            "partition_date": rows["partition_date"].to_numpy(),
            "algorithm": champion["algorithm"],
            "model_version": champion["version_id"],
            "risk": risk,
            "risk_tier": risk_tier(risk, tiers),
            "flagged": risk >= float(metadata["threshold"]),
            EXTRACT: rows[EXTRACT].to_numpy(),
            "scored_at": pd.Timestamp(datetime.now(UTC)).floor("s"),
        },
        columns=PREDICTION_COLUMNS,
    )
    if not reasons:
        return table
    if len(rows):
        # In blocks: contributions, their order and the gold values are a few float64
        # copies of the block's inputs, so memory stays flat however large the extract.
        inputs = rows[needed].reset_index(drop=True)
        explained = pd.concat(
            [
                top_reasons(
                    champion, inputs.iloc[start : start + REASON_BLOCK_ROWS], k=reasons
                )
                for start in range(0, len(inputs), REASON_BLOCK_ROWS)
            ],
            ignore_index=True,
        )
    else:
        k = min(reasons, len(needed))
        explained = pd.DataFrame(
            {
                f"reason_{i}{part}": pd.Series(dtype=dtype)
                for i in range(1, k + 1)
                for part, dtype in (
                    ("", object),
                    ("_feature", object),
                    ("_contribution", float),
                )
            }
        )
    at = PREDICTION_COLUMNS.index("flagged") + 1
    return pd.concat(
        [table.iloc[:, :at], explained, table.iloc[:, at:]], axis=1
    ).reset_index(drop=True)


def score_new_encounters(
    scoring_features: pd.DataFrame,
    champion: dict[str, Any],
    scored_extracts: dict[str, Any],
    extracts_provenance: dict[str, Callable[[], dict[str, Any]]],
    inference: InferenceParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the extracts not yet scored by this model version (all with ``rescore``).

    Args:
        scoring_features: gold feature rows of every new encounter, with ``extract``.
        champion: the verified champion bundle.
        scored_extracts: per extract already in the predictions store, the model version
            that scored it (``ScoredExtractsDataset``).
        extracts_provenance: each extract's provenance, by name without ``.csv``.
        inference: ``rescore`` and the risk tiers.

    Returns:
        The predictions and the scored gold feature rows (the feature store's columns), to
        be merged into their stores by encounter_id; empty when nothing is new.

    Raises:
        ScoringError: a demo extract, and a champion not trained on that demo's data.
    """
    done = scored_extracts
    version = champion["version_id"]
    names = list(dict.fromkeys(scoring_features[EXTRACT]))
    skipped = [
        n
        for n in names
        if not inference.rescore and done.get(n, {}).get("model_version") == version
    ]
    if skipped:
        logger.info(
            "Already scored by %s %s, skipped (inference.rescore=true scores them again): %s",
            champion["algorithm"],
            version,
            ", ".join(skipped),
        )
    rows = scoring_features[~scoring_features[EXTRACT].isin(skipped)]
    refuse_demo_extracts_of_other_data(
        [n for n in names if n not in skipped], extracts_provenance, champion
    )
    predictions = score_rows(rows, champion, inference.risk_tiers, inference.reasons)
    scored_at = datetime.now(UTC).isoformat(timespec="seconds")
    predictions.attrs["scored_extracts"] = {
        name: {
            "algorithm": champion["algorithm"],
            "model_version": version,
            "rows": int(count),
            "scored_at": scored_at,
        }
        for name, count in predictions[EXTRACT].value_counts(sort=False).items()
    }
    for name, entry in predictions.attrs["scored_extracts"].items():
        flagged = predictions.loc[predictions[EXTRACT] == name, "flagged"]
        logger.info(
            "Scored %s: %d encounters with %s %s, %d flagged (risk >= %.3f)",
            name,
            entry["rows"],
            champion["algorithm"],
            version,
            int(flagged.sum()),
            float(champion["metadata"]["threshold"]),
        )
    features = rows.drop(columns=EXTRACT).reset_index(drop=True)
    return predictions, features


def refuse_demo_extracts_of_other_data(
    names: list[str],
    extracts_provenance: dict[str, Callable[[], dict[str, Any]]],
    champion: dict[str, Any],
) -> None:
    """Raise ``ScoringError`` if an extract of ``names`` is demo data (its provenance
    sidecar says so) and the champion was trained on other data: its risks, and any drift
    measured on them, would describe nothing."""
    trained_on = (champion["metadata"].get("population") or {}).get("raw_source")
    for name in names:
        load = extracts_provenance.get(name.removesuffix(".csv"))
        provenance = load() if load is not None else {}
        if same_data(trained_on, provenance):
            continue
        raise ScoringError(
            f"{provenance.get('path', name)} is {describe(provenance)}, written by `kedro run "
            f"--pipelines synthetic`, but the champion {champion['algorithm']} "
            f"{champion['version_id']} was trained on {describe(trained_on)}. Delete the "
            f"demo extract and its .provenance.json, or train on the demo data again."
        )
