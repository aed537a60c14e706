"""Register model versions of one algorithm, and load the champion or a pinned version.

Layout under ``path`` (``<paths.model_registry>/<algorithm>``)::

    v20260101_120000/                 # one version, never overwritten (commit_protocol)
        _claim.json                   # who took this id: host, pid, time
        model.pkl                     # pickled sklearn Pipeline(preprocess, classifier)
        plots/roc_curves.png ...      # the evaluation plots of this version (PNG from nodes)
        model_card.md                 # the card a node rendered, stamped with the registration
        metadata.json                 # written LAST: the commit marker, with model.pkl's sha256
    v20260101_120000_01/              # a second version registered in the same second
    _promotions/p20260102_090000/     # one promotion by hand (registry_promotion.py)
        _claim.json
        promotion.json                # the commit marker: version, user, time, reason
    latest/model.pkl + metadata.json  # copy of the CHAMPION (the production model)
    versions.json                     # index of every committed version, oldest first

A version is committed exactly when its ``metadata.json`` exists. ``latest/`` and
``versions.json`` are indexes rebuilt from the committed versions and promotions
(registry_folder.py); what they must say, the champion included, is a pure function of
those records (registry_index.py), so concurrent registrations and promotions need no lock.

The dataset only stores: figures and the model card are made by nodes and handed over as
files (PNG bytes, Markdown). The card is rendered before the version exists, so the three
facts only the registration knows (version id, time, sha256 of model.pkl) stand in it as
:data:`REGISTRATION_MARKS`, which the registry replaces as it writes the file.

Two writers of the same algorithm at once (two ECS tasks) are safe on local disk and S3:
ids are taken by creating ``_claim.json`` exclusively (commit_protocol), and every writer
ends its registration with an index check that passed after its own last write.

Loading ``latest/`` or a pinned version verifies model.pkl against the sha256 in its
metadata and refuses a mismatch or a missing metadata.json. A registration killed between
``latest/model.pkl`` and ``latest/metadata.json`` leaves them out of step; loading then reads
the version ``latest/metadata.json`` names from its own folder, so ``latest/`` reads as it was
until the next registration repairs it. A version whose model.pkl fails its sha256 is never
copied into ``latest/``. Folders of interrupted registrations (no metadata.json) are never
read and are listed in a warning by the next registration.
"""

from __future__ import annotations

import json
import logging
import pickle
from datetime import UTC, datetime
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.datasets.registry_folder import (
    INDEX,
    LATEST,
    METADATA,
    MODEL,
    MODEL_CARD,
    PLOTS,
    VERSION_ID,
    sha256,
)
from diab_readmit.datasets.registry_history import (
    ModelRegistryHistoryDataset,
    champion_metadata,
)
from diab_readmit.datasets.registry_index import (
    HELD,
    PROMOTED,
    REJECTED,
    champion_and_statuses,
    json_default,
)
from diab_readmit.datasets.registry_loads import VerifiedLoads
from diab_readmit.datasets.storage_errors import storage_errors_named

logger = logging.getLogger(__name__)

__all__ = [
    "HELD",
    "PROMOTED",
    "REJECTED",
    "VERSION_ID",
    "ModelRegistryChampionDataset",
    "ModelRegistryDataset",
    "ModelRegistryHistoryDataset",
    "champion_and_statuses",
    "champion_metadata",
]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Stand-ins for what only the registration knows, in a model card rendered before it.
REGISTRATION_MARKS = {
    "version_id": "@registry:version_id@",
    "created_at": "@registry:created_at@",
    "sha256": "@registry:sha256@",
}


def stamp_model_card(card: bytes, registration: dict[str, str]) -> bytes:
    """The card with each of :data:`REGISTRATION_MARKS` replaced by the registration's value."""
    for key, mark in REGISTRATION_MARKS.items():
        card = card.replace(mark.encode(), registration[key].encode())
    return card


class ModelRegistryDataset(
    VerifiedLoads, AbstractDataset[dict[str, Any], dict[str, Any]]
):
    """Register model versions of one algorithm (``save``); load the latest or a pinned one.

    ``save`` takes ``{"model": fitted estimator, "metadata": JSON-able dict, "plots":
    {file name: matplotlib Figure or PNG bytes}}`` and registers a new version; the stored
    metadata gains ``version_id``, ``created_at``, ``sha256`` (of model.pkl), ``model_file``
    and ``plots``. ``load`` returns ``{"model", "metadata", "version_id"}``.

    Examples:
        Using the YAML API (conf/base/catalog_training.yml, a factory over the namespace)::

            "{algorithm}.model_registry@bundle":
              type: diab_readmit.datasets.model_registry.ModelRegistryDataset
              path: s3://diab-readmit-model-registry/{algorithm}
              pinned_version: v20260101_120000   # optional: load this one, not latest/

        Using the Python API::

            registry = ModelRegistryDataset(
                path="data/06_models/model_registry/xgboost"
            )
            registry.load()["metadata"]["performance"]["oot"]["auc_roc"]
    """

    def __init__(
        self,
        *,
        path: str,
        pinned_version: str | None = None,
        index_attempts: int = 30,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """The registry of the algorithm the folder ``path`` is named after.

        Args:
            path: the algorithm's registry folder, e.g.
                ``data/06_models/model_registry/xgboost`` or ``s3://bucket/xgboost``.
            pinned_version: load this version (e.g. ``v20260101_120000``) instead of
                ``latest/``.
            index_attempts: rounds of the index check before giving up (concurrent
                writers).
            credentials: passed to the fsspec filesystem (e.g. ``key``/``secret`` for s3fs).
            fs_args: extra arguments of the fsspec filesystem (e.g. ``config_kwargs``).
            metadata: free-form, for kedro-viz and hooks; ignored by the dataset.
        """
        super().__init__(
            path=path, credentials=credentials, fs_args=fs_args, metadata=metadata
        )
        if pinned_version is not None and not VERSION_ID.fullmatch(str(pinned_version)):
            raise DatasetError(
                f"pinned_version '{pinned_version}' of {self._path} is not a version id: "
                f"expected v<YYYYMMDD_HHMMSS> (optionally _NN), as listed in {INDEX}."
            )
        self._pinned_version = pinned_version
        self._index_attempts = index_attempts

    # ---------------------------------------------------------------- load
    def load(self) -> dict[str, Any]:
        with storage_errors_named(self._path, "loading a model from"):
            if self._pinned_version:
                return self._load_verified(self._pinned_version, retries=0)
            return self._load_latest()

    def load_version(self, version_id: str) -> dict[str, Any]:
        """``{"model", "metadata", "version_id"}`` of a committed version, model.pkl
        unpickled only after its sha256 matched (what a pinned load returns)."""
        with storage_errors_named(self._path, "loading a model from"):
            return self._load_verified(version_id, retries=0)

    # ---------------------------------------------------------------- save
    def save(self, data: dict[str, Any]) -> None:
        with storage_errors_named(self._path, "registering a model in"):
            self._register(data)

    def _register(self, data: dict[str, Any]) -> None:
        model, metadata, plots, card = self._check_bundle(data)
        content = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        digest = sha256(content)
        now = datetime.now(UTC)
        version_id, created_at = (
            self._commits.claim(now),
            now.isoformat(timespec="seconds"),
        )
        self._write_bytes(content, version_id, MODEL)
        plot_files = []
        for name, png in plots.items():
            self._write_bytes(png, version_id, PLOTS, name)
            plot_files.append(f"{PLOTS}/{name}")
        stamped = {"version_id": version_id, "created_at": created_at, "sha256": digest}
        committed = {
            **metadata,
            **stamped,
            "model_file": MODEL,
            "plots": plot_files,
            "model_card": None if card is None else MODEL_CARD,
        }
        try:
            encoded = json.dumps(committed, indent=2, default=json_default).encode()
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                f"Cannot register {self._algorithm} {version_id}: its metadata is not "
                f"JSON-serialisable ({exc}); convert the value to str / int / float."
            ) from exc
        if card is not None:
            self._write_bytes(stamp_model_card(card, stamped), version_id, MODEL_CARD)
        self._write_bytes(encoded, version_id, METADATA)  # the commit
        logger.info(
            "Registered %s %s (sha256 %s) at %s",
            self._algorithm,
            version_id,
            digest[:12],
            self._shown(version_id),
        )
        self.refresh_indexes()
        self._report_gate(version_id, committed.get("gate"))
        self._report_incomplete_versions(keep=version_id)

    def _report_gate(self, version_id: str, gate: dict[str, Any] | None) -> None:
        """One line when the gate kept a registered version out of latest/."""
        if gate is None or gate.get("decision", PROMOTED) == PROMOTED:
            return
        champion = self._read_index().get("champion")
        logger.warning(
            "%s %s is registered but %s by the champion gate (%s); latest/ still holds %s. "
            "The version is at %s; to use it anyway: kedro run --pipelines promote --params "
            'promote.algorithm=%s,promote.version=%s,promote.reason="..."',
            self._algorithm,
            version_id,
            "NOT promoted" if gate.get("decision") == REJECTED else "held",
            "; ".join(gate.get("reasons") or []) or "no reason recorded",
            champion or "no champion",
            self._shown(version_id),
            self._algorithm,
            version_id,
        )

    def _check_bundle(
        self, data: Any
    ) -> tuple[Any, dict[str, Any], dict[str, bytes], bytes | None]:
        if not isinstance(data, dict) or not {"model", "metadata"} <= set(data):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise DatasetError(
                f"Cannot register to {self._path}: expected a dict with 'model', 'metadata' "
                f"and optionally 'plots' and 'model_card', got {got}."
            )
        plots = data.get("plots") or {}
        bad_names = [n for n in plots if "/" in n or not n.endswith(".png")]
        if bad_names:
            raise DatasetError(
                f"Cannot register to {self._path}: plot names {bad_names} must be plain "
                f"'<name>.png' file names."
            )
        not_png = [
            name
            for name, png in plots.items()
            if not (isinstance(png, bytes | bytearray) and png.startswith(PNG_MAGIC))
        ]
        if not_png:
            raise DatasetError(
                f"Cannot register to {self._path}: plots {not_png} are not PNG bytes; a "
                f"node renders figures (diab_readmit.figures_io.png_bytes), the registry "
                f"stores files."
            )
        card = data.get("model_card")
        if card is not None and not isinstance(card, str | bytes):
            raise DatasetError(
                f"Cannot register to {self._path}: 'model_card' must be the card's Markdown "
                f"(str or bytes), got {type(card).__name__}."
            )
        card = card.encode() if isinstance(card, str) else card
        pngs = {name: bytes(png) for name, png in plots.items()}
        return data["model"], dict(data["metadata"]), pngs, card

    def _exists(self) -> bool:
        folder = self._pinned_version or LATEST
        with storage_errors_named(self._path, "looking for a model in"):
            return self._read_bytes(folder, METADATA) is not None

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "pinned_version": self._pinned_version}


class ModelRegistryChampionDataset(ModelRegistryDataset):
    """The champion (``latest/``, sha256 verified) or None when there is none yet.

    What the champion gate compares a new version with; read-only. Loads ``{"model",
    "metadata", "version_id"}`` like :class:`ModelRegistryDataset`, or ``None`` for a
    registry without a champion (nothing registered, or every version rejected).

    Example (conf/base/catalog_training.yml)::

        "{algorithm}.current_champion":
          type: diab_readmit.datasets.model_registry.ModelRegistryChampionDataset
          path: ${globals:paths.model_registry}/{algorithm}
    """

    def load(self) -> dict[str, Any] | None:  # type: ignore[override]
        with storage_errors_named(self._path, "loading the champion from"):
            if self._read_bytes(LATEST, METADATA) is None:
                if self._pinned_version is None:
                    return None
            return super().load()

    def save(self, data: dict[str, Any]) -> None:
        raise DatasetError(
            f"{type(self).__name__} ({self._path}) is read-only; models are registered through "
            f"'{self._algorithm}.model_registry@bundle'."
        )

    def _exists(self) -> bool:
        return True  # no champion is a valid answer (None)
