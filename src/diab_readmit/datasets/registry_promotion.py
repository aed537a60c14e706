"""Promotions by hand: make a committed version the champion of its algorithm (or roll back).

A promotion is a function call, not a dataset save: :func:`promote` is what the ``promote``
pipeline's node calls (on the :class:`~diab_readmit.datasets.registry_root.RegistryLocation`
its catalog entry loads) and what a script or notebook calls directly. Each commits a
``promotion.json`` (commit_protocol, prefix ``p``) and brings the indexes in line;
:class:`RegistryPromotionDataset` reads the records back.
"""

from __future__ import annotations

import getpass
import logging
import socket
from datetime import UTC, datetime
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.datasets.registry_folder import (
    LATEST,
    PROMOTION,
    VERSION_ID,
    RegistryFolder,
)
from diab_readmit.datasets.registry_root import RegistryLocation, RegistryRoot
from diab_readmit.datasets.storage_errors import storage_errors_named

logger = logging.getLogger(__name__)


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


def promote_version(
    registry: RegistryFolder,
    version_id: str,
    reason: str,
    user: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Make a committed version of ``registry`` the champion (a promotion, or a rollback).

    Checks that the version is complete and that its model.pkl matches its sha256, then
    commits a promotion record (who, when, why) and brings ``versions.json`` and ``latest/``
    in line. Returns the record.

    Raises:
        DatasetError: the id is malformed, the version is not committed, or its model.pkl
            does not match its sha256; nothing is written then.
    """
    with storage_errors_named(registry._path, "promoting a model in"):
        committed = registry.committed_versions()
        if not VERSION_ID.fullmatch(str(version_id)):
            raise DatasetError(
                f"'{version_id}' is not a version id of '{registry.algorithm}': expected "
                f"v<YYYYMMDD_HHMMSS> (optionally _NN), one of "
                f"{', '.join(committed) or 'none'}."
            )
        metadata = registry._version_metadata(
            version_id
        )  # raises, listing the versions
        registry._verified_model_bytes(version_id, metadata)
        now = now or datetime.now(UTC)
        previous = registry._read_index().get("champion")
        promotion_id = registry._promotions.claim(now)
        record = {
            "promotion_id": promotion_id,
            "version_id": version_id,
            # Where the promotion sits among the versions (registry_index): after every
            # version committed by now; a later one that passes the gate wins.
            "after_version": registry.committed_versions()[-1],
            "sha256": metadata.get("sha256"),
            "promoted_at": now.isoformat(timespec="seconds"),
            "promoted_by": user,
            "reason": reason,
            "previous_champion": previous,
        }
        registry._write_json(
            record, *registry._promotions.parts(promotion_id, PROMOTION)
        )
        registry.refresh_indexes()
        champion = registry._read_index().get("champion")
    logger.info(
        "Promoted %s %s (sha256 %s verified) by %s: %s. Champion was %s, is now %s; "
        "latest/ at %s.",
        registry.algorithm,
        version_id,
        str(metadata.get("sha256"))[:12],
        user,
        reason,
        previous or "none",
        champion,
        registry._shown(LATEST),
    )
    return record


def promote(
    location: RegistryLocation,
    algorithm: str,
    version: str,
    reason: str,
    user: str | None = None,
) -> dict[str, Any]:
    """Promote ``version`` of ``algorithm`` in the registry at ``location``.

    Args:
        location: the registry root (``<paths.model_registry>``) and its storage options.
        algorithm: whose version.
        version: the version id, e.g. ``v20261201_120000``.
        reason: why, recorded with the promotion.
        user: who asks; None: the account running the command (:func:`current_user`).

    Returns:
        The committed promotion record, with ``algorithm``.
    """
    registry = location.registry(algorithm)
    if not registry.committed_versions():
        raise DatasetError(
            f"No version of '{algorithm}' is registered at {location.path}/{algorithm}: "
            f"nothing to promote. Train one with `kedro run --pipelines {algorithm}`."
        )
    record = promote_version(registry, version, reason, user or current_user())
    return {"algorithm": algorithm, **record}


class RegistryPromotionDataset(
    RegistryRoot, AbstractDataset[None, list[dict[str, Any]]]
):
    """Every promotion record of the algorithms under ``path``, oldest first per algorithm.

    Read-only: promotions are made by :func:`promote` (``kedro run --pipelines promote``).

    Example (conf/base/catalog_promotion.yml)::

        model_registry_promotions:
          type: diab_readmit.datasets.registry_promotion.RegistryPromotionDataset
          path: data/06_models/model_registry
    """

    def load(self) -> list[dict[str, Any]]:
        return [
            {"algorithm": algorithm, **record}
            for algorithm in ALGORITHMS
            for record in self._registry(algorithm).committed_promotions()
        ]

    def save(self, data: Any) -> None:
        raise DatasetError(
            f"{type(self).__name__} ({self._path}) is read-only; promote with `kedro run "
            f"--pipelines promote` or diab_readmit.datasets.registry_promotion.promote()."
        )
