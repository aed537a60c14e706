"""One algorithm's registry folder: its committed records and the indexes derived from them.

What every registry view shares (registration, history, promotion): the layout's names,
JSON reads and writes, the committed versions and promotions (commit_protocol), and
:meth:`RegistryFolder.refresh_indexes`, the loop that brings ``versions.json`` and
``latest/`` in line with the records. What the indexes must say is decided by the pure
functions of :mod:`diab_readmit.datasets.registry_index`; this module only reads and writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import DatasetError

from diab_readmit.datasets.commit_protocol import CommitFolders, id_pattern
from diab_readmit.datasets.fsspec_folder import FsspecFolder
from diab_readmit.datasets.registry_index import (
    build_index,
    index_entry,
    index_repairs,
    json_default,
    latest_holds,
)

logger = logging.getLogger(__name__)

MODEL = "model.pkl"
METADATA = "metadata.json"
LATEST = "latest"
INDEX = "versions.json"
PLOTS = "plots"
MODEL_CARD = "model_card.md"
PREFIX = "v"
VERSION_ID = id_pattern(PREFIX)
PROMOTIONS = "_promotions"
PROMOTION = "promotion.json"
PROMOTION_PREFIX = "p"
#: Jitter between index checks and id retries; not the model's randomness.
_jitter = random.SystemRandom()


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class RegistryFolder(FsspecFolder):
    """The committed versions and promotions of the algorithm the folder ``path`` is named
    after, and the indexes derived from them."""

    #: Rounds of the index check before giving up (concurrent writers).
    _index_attempts = 30

    def __init__(
        self,
        *,
        path: str,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """The registry of the algorithm the folder ``path`` is named after.

        Args:
            path: the algorithm's registry folder, e.g.
                ``data/06_models/model_registry/xgboost`` or ``s3://bucket/xgboost``; its
                last folder is the algorithm's name, in messages and in the history.
            credentials: passed to the fsspec filesystem (e.g. ``key``/``secret`` for s3fs).
            fs_args: extra arguments of the fsspec filesystem (e.g. ``config_kwargs``).
            metadata: free-form, for kedro-viz and hooks; ignored by the dataset.
        """
        super().__init__(path, credentials, fs_args)
        self._algorithm = PurePosixPath(self._root).name
        self._commits = CommitFolders(self, PREFIX, METADATA)
        self._promotions = CommitFolders(
            self, PROMOTION_PREFIX, PROMOTION, under=(PROMOTIONS,)
        )
        self.metadata = metadata

    @property
    def algorithm(self) -> str:
        return self._algorithm

    # ---------------------------------------------------------------- JSON files
    def _read_json(self, *parts: str) -> dict[str, Any] | None:
        content = self._read_bytes(*parts)
        if content is None:
            return None
        try:
            return json.loads(content)
        except ValueError as exc:
            raise DatasetError(
                f"{self._shown(*parts)} is not valid JSON ({exc}). It was damaged or edited "
                f"by hand; restore it, or delete it if it is an index (versions.json, latest/) "
                f"and the next registration rebuilds it."
            ) from exc

    def _write_json(self, value: Any, *parts: str) -> None:
        self._write_bytes(
            json.dumps(value, indent=2, default=json_default).encode(), *parts
        )

    # ---------------------------------------------------------------- committed records
    def committed_versions(self) -> list[str]:
        """Ids of the versions whose metadata.json exists, oldest first."""
        return self._commits.committed()

    def incomplete_versions(self) -> list[str]:
        """Version folders without metadata.json: registrations that were interrupted (or are
        still running in another process). Readers never see them; deleting one that is
        older than any running registration is safe."""
        return self._commits.incomplete()

    def remove_incomplete(
        self, older_than: timedelta, dry_run: bool = False
    ) -> list[str]:
        """Delete folders of saves claimed more than ``older_than`` ago that never committed,
        and leftover ``*.tmp-*`` files as old (commit_protocol); returns what was deleted."""
        return self._commits.remove_incomplete(
            older_than, dry_run=dry_run
        ) + self._promotions.remove_incomplete(older_than, dry_run=dry_run)

    def snapshots_trained_on(self) -> set[str]:
        """The ``snapshot_id`` of every committed version: snapshots that must be kept."""
        return {
            self._version_metadata(v).get("snapshot_id")
            for v in self.committed_versions()
        } - {None}

    def _version_metadata(self, version_id: str) -> dict[str, Any]:
        metadata = self._read_json(version_id, METADATA)
        if metadata is None:
            committed = self.committed_versions()
            raise DatasetError(
                f"Model version {version_id} of '{self._algorithm}' has no {METADATA} at "
                f"{self._shown(version_id)}: it does not exist or its registration did not "
                f"finish. Registered versions: {', '.join(committed) or 'none'}."
            )
        return metadata

    def committed_promotions(self) -> list[dict[str, Any]]:
        """Promotion records (promotion.json) of every committed promotion, oldest first."""
        records = []
        for promotion_id in self._promotions.committed():
            record = self._read_json(*self._promotions.parts(promotion_id, PROMOTION))
            if record is not None:
                records.append({**record, "promotion_id": promotion_id})
        return records

    def expected_index(
        self, committed: list[str], known: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        """versions.json as the committed versions and promotions say it must read.

        ``known``: entries already in versions.json by id, reused (a version's metadata never
        changes) so that each check reads only the metadata of versions new to the index.
        """
        entries = []
        for version_id in committed:
            cached = known.get(version_id)
            if cached is None or "gate" not in cached:
                cached = index_entry(self._version_metadata(version_id))
            entries.append(cached)
        return build_index(self._algorithm, entries, self.committed_promotions())

    def _verified_model_bytes(self, version_id: str, metadata: dict[str, Any]) -> bytes:
        content = self._read_bytes(version_id, MODEL)
        expected = metadata.get("sha256")
        if content is None or not expected or sha256(content) != expected:
            found = (
                "missing" if content is None else f"sha256 {sha256(content)[:12]}..."
            )
            raise DatasetError(
                f"Refusing to promote {self._shown(version_id, MODEL)}: it is {found}, not "
                f"{str(expected)[:12]}... as its {METADATA} records; it was modified or "
                f"damaged after registration. {LATEST}/ is unchanged. Promote another "
                f"version (one of {', '.join(self.committed_versions()) or 'none'})."
            )
        return content

    # ---------------------------------------------------------------- indexes
    def refresh_indexes(self) -> None:
        """Bring ``versions.json`` and ``latest/`` in line with the committed versions.

        Safe to run at any time and from several processes at once: each round lists the
        records, rewrites what :func:`~diab_readmit.datasets.registry_index.index_repairs`
        finds stale and checks again, so every writer ends with a check that passed after
        its own last write. Also how to repair indexes that were deleted or damaged by hand.
        """
        for _ in range(self._index_attempts):
            committed = self.committed_versions()
            if not committed:
                return
            index = self._read_index()
            known = {entry.get("id"): entry for entry in index.get("versions", [])}
            expected = self.expected_index(committed, known)
            champion = expected["champion"]
            repairs = index_repairs(
                index, expected, champion is not None and self._latest_is(champion)
            )
            if not repairs:
                return
            if "latest" in repairs:
                self._publish_latest(champion)
            if "index" in repairs:
                self._write_json(expected, INDEX)
            # Give a concurrent writer time to finish the write it is in before re-checking.
            time.sleep(0.05 + _jitter.random() * 0.15)
        raise DatasetError(
            f"The versions of '{self._algorithm}' are registered, but {INDEX} and {LATEST}/ at "
            f"{self._path} were still changing after {self._index_attempts} checks (many "
            f"concurrent registrations?). Run the registration again, or call "
            f"ModelRegistryDataset(path='{self._path}').refresh_indexes()."
        )

    def _read_index(self) -> dict[str, Any]:
        try:
            index = self._read_json(INDEX)
        except DatasetError:
            return {}  # a damaged index is rebuilt, it holds nothing the versions do not
        return index if isinstance(index, dict) else {}

    def _latest_is(self, version_id: str) -> bool:
        try:
            metadata = self._read_json(LATEST, METADATA)
        except DatasetError:
            return False
        if not metadata or metadata.get("version_id") != version_id:
            return False
        content = self._read_bytes(LATEST, MODEL)
        return latest_holds(
            version_id, metadata, None if content is None else sha256(content)
        )

    def _publish_latest(self, version_id: str) -> None:
        model = self._read_bytes(version_id, MODEL)
        metadata = self._read_bytes(version_id, METADATA)
        if model is None or metadata is None:
            raise DatasetError(
                f"Version {version_id} at {self._shown(version_id)} lost its {MODEL} or "
                f"{METADATA} after it was committed; restore the files or delete the folder."
            )
        expected = json.loads(metadata).get("sha256")
        if sha256(model) != expected:
            # latest/ must never point at a model that would be refused on load.
            raise DatasetError(
                f"Not publishing {version_id} as {LATEST}/: {self._shown(version_id, MODEL)} "
                f"has sha256 {sha256(model)[:12]}..., not {str(expected)[:12]}... as its "
                f"{METADATA} records; it was modified or damaged after registration. "
                f"{LATEST}/ is unchanged. Delete the folder {self._shown(version_id)} (or "
                f"restore its {MODEL}) and register again with `kedro run --pipelines "
                f"{self._algorithm}`."
            )
        self._write_bytes(model, LATEST, MODEL)
        self._write_bytes(metadata, LATEST, METADATA)

    def _report_incomplete_versions(self, keep: str) -> None:
        # Not deleted automatically: on S3 nothing tells a folder of a registration killed
        # an hour ago from one a concurrent ECS task is writing right now.
        leftovers = [v for v in self.incomplete_versions() if v != keep]
        temporaries = self._commits.leftover_temporaries()
        if leftovers or temporaries:
            logger.warning(
                "%d incomplete version folder(s) of '%s' at %s: %s%s. They have no %s (a "
                "registration was killed, or one is still running); nothing reads them. To "
                "delete those older than an hour: python -m diab_readmit.storage_cleanup "
                "--older-than 1h",
                len(leftovers),
                self._algorithm,
                self._path,
                ", ".join(leftovers) or "none",
                f"; leftover temporary files: {', '.join(temporaries)}"
                if temporaries
                else "",
                METADATA,
            )

    def _describe(self) -> dict[str, Any]:
        return {
            "path": self._path,
            "protocol": self._protocol,
            "algorithm": self._algorithm,
        }
