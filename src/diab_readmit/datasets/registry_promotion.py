"""Promotions by hand: saving a request makes that version the champion of its algorithm."""

from __future__ import annotations

import getpass
import socket
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.datasets.registry_root import RegistryRoot


def current_user() -> str:
    """``user@host`` of the account running the command (an ECS task: its container)."""
    try:
        user = getpass.getuser()
    except (
        KeyError,
        OSError,
    ):  # no passwd entry (some containers) and no USER variable
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class RegistryPromotionDataset(
    RegistryRoot, AbstractDataset[dict[str, Any], list[dict[str, Any]]]
):
    """Promote (or roll back to) a registered version of an algorithm under ``path``.

    ``save`` takes ``{"algorithm", "version", "reason", "user"}`` (``user`` None: the
    account running the command), checks the version is complete and its model.pkl matches
    its sha256, and commits a promotion record in ``<path>/<algorithm>/_promotions/`` (see
    ModelRegistryDataset.promote); ``latest/`` and versions.json follow. ``load`` returns
    every promotion record of the algorithms present, oldest first per algorithm.

    Example (conf/base/catalog_promotion.yml)::

        model_registry_promotion:
          type: diab_readmit.datasets.registry_promotion.RegistryPromotionDataset
          path: data/06_models/model_registry
    """

    def save(self, data: dict[str, Any]) -> None:
        missing = [k for k in ("algorithm", "version", "reason") if not data.get(k)]
        if missing:
            raise DatasetError(
                f"Cannot promote in {self._path}: the request lacks {missing}."
            )
        registry = self._registry(data["algorithm"])
        if not registry.committed_versions():
            raise DatasetError(
                f"No version of '{data['algorithm']}' is registered at {self._path}/"
                f"{data['algorithm']}: nothing to promote. Train one with `kedro run "
                f"--pipelines {data['algorithm']}`."
            )
        registry.promote(
            data["version"],
            reason=data["reason"],
            user=data.get("user") or current_user(),
        )

    def load(self) -> list[dict[str, Any]]:
        return [
            {"algorithm": algorithm, **record}
            for algorithm in ALGORITHMS
            for record in self._registry(algorithm).committed_promotions()
        ]
