"""The project's model registry mirrored in MLflow's: a model version per registry version,
and the alias ``champion`` on the registry's champion.

The project's registry (``data/06_models/model_registry``) is the source of truth: this
module only copies what it says. A mirror is a reconciliation, so a run that could not reach
MLflow (or ran with tracking off) is caught up by the next one that can:
:func:`mirror_plan` compares the registry's history with what MLflow holds, and
:func:`mirror_registry` carries the plan out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

ALIAS = "champion"
#: Model-version tags that tie an MLflow version to its registry version.
VERSION_TAG, SHA256_TAG, STATUS_TAG = "registry_version_id", "sha256", "status"


def model_name(algorithm: str) -> str:
    """The registered model of ``algorithm`` in MLflow: ``diab_readmit-<algorithm>``."""
    return f"diab_readmit-{algorithm}"


@dataclass(frozen=True)
class MirrorPlan:
    """What MLflow lacks of one algorithm's registry."""

    #: Registry version ids with no MLflow model version yet, oldest first.
    to_register: list[str]
    #: The registry version the ``champion`` alias must name (None: no champion).
    champion: str | None
    #: ``{registry version id: status}`` of every registry version (versions.json).
    statuses: dict[str, str] = field(default_factory=dict)


def mirror_plan(history: Mapping[str, Any], mirrored: set[str]) -> MirrorPlan:
    """What to register and where the alias goes, from the registry's history.

    Args:
        history: ``<algorithm>.model_registry@history`` (``contracts.RegistryHistory``).
        mirrored: registry version ids MLflow already has a model version for.
    """
    versions = history.get("versions") or []
    return MirrorPlan(
        to_register=[v["id"] for v in versions if v["id"] not in mirrored],
        champion=history.get("champion"),
        statuses={v["id"]: v.get("status") for v in versions},
    )


def model_signature(model: Any) -> Any:
    """Input schema of a registered ``model.pkl``: the gold columns its scaler takes (raw
    diagnosis codes as strings, every other input a number); output: the
    ``predict_proba`` pair, column 1 the calibrated 30-day readmission risk."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec
    from sklearn.preprocessing import TargetEncoder

    preprocess = model.steps[0][1]
    coded = {
        column
        for _, transformer, columns in getattr(preprocess, "transformers_", [])
        if isinstance(transformer, TargetEncoder)
        for column in columns
    }
    inputs = Schema(
        [
            ColSpec("string" if name in coded else "double", str(name))
            for name in model.feature_names_in_
        ]
    )
    outputs = Schema([TensorSpec(np.dtype("float64"), (-1, 2))])
    return ModelSignature(inputs=inputs, outputs=outputs)


def mirror_registry(
    client: Any,
    history: Mapping[str, Any],
    load_version: Callable[[str], Mapping[str, Any]],
    log_model: Callable[[Any, Mapping[str, Any]], Any],
    run_id_of: Callable[[str], str | None],
) -> dict[str, Any]:
    """Bring MLflow's registered model of the history's algorithm in line with the registry.

    Args:
        client: an ``mlflow.MlflowClient``.
        history: the algorithm's ``model_registry@history``.
        load_version: registry version id -> ``{"model", "metadata", "version_id"}`` (the
            registry's own sha256-checked load).
        log_model: (model, metadata) -> ``ModelInfo`` of the model logged to MLflow.
        run_id_of: registry version id -> the MLflow run that trained it (None: unknown).

    Returns:
        ``{"name", "registered": [registry ids newly mirrored], "champion": MLflow version
        number or None}``.
    """
    name = model_name(history["algorithm"])
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(
            name,
            description=f"Mirror of the project's model registry for "
            f"{history['algorithm']}; the project's versions.json is the source of truth.",
        )
    existing = {
        version.tags.get(VERSION_TAG): version
        for version in client.search_model_versions(filter_string=f"name = '{name}'")
        if version.tags.get(VERSION_TAG)
    }
    plan = mirror_plan(history, set(existing))
    for registry_id in plan.to_register:
        bundle = load_version(registry_id)
        metadata = bundle["metadata"]
        info = log_model(bundle["model"], metadata)
        existing[registry_id] = client.create_model_version(
            name,
            source=info.model_uri,
            run_id=run_id_of(registry_id),
            model_id=info.model_id,
            tags={
                VERSION_TAG: registry_id,
                SHA256_TAG: str(metadata.get("sha256")),
                STATUS_TAG: str(plan.statuses.get(registry_id)),
            },
            description=f"Registry version {registry_id} (model.pkl sha256 "
            f"{metadata.get('sha256')}).",
        )
    for registry_id, status in plan.statuses.items():
        version = existing[registry_id]
        if version.tags.get(STATUS_TAG) != status:
            client.set_model_version_tag(name, version.version, STATUS_TAG, str(status))
    champion = None
    if plan.champion is not None:
        champion = existing[plan.champion].version
        client.set_registered_model_alias(name, ALIAS, champion)
    elif client.get_registered_model(name).aliases.get(ALIAS) is not None:
        client.delete_registered_model_alias(name, ALIAS)
    return {"name": name, "registered": plan.to_register, "champion": champion}
