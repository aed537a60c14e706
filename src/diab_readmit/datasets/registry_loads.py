"""Loading a registered model: ``latest/`` or a pinned version, model.pkl unpickled only
after its sha256 matched the version's metadata."""

from __future__ import annotations

import logging
import pickle
import time
from typing import Any

from kedro.io.core import DatasetError

from diab_readmit.datasets.registry_folder import (
    INDEX,
    LATEST,
    METADATA,
    MODEL,
    VERSION_ID,
    RegistryFolder,
    _jitter,
    sha256,
)

logger = logging.getLogger(__name__)


class VerifiedLoads(RegistryFolder):
    """How the registry datasets load a version: verified, or refused with what to do."""

    def _load_latest(self) -> dict[str, Any]:
        # latest/ is rewritten file by file; a concurrent registration can be caught between
        # its model.pkl and its metadata.json, so a mismatch there is retried briefly.
        try:
            return self._load_verified(LATEST, retries=3)
        except DatasetError as refused:
            version_id = self._interrupted_publication()
            if version_id is None:
                raise refused from None
        # A registration killed between latest/model.pkl and latest/metadata.json leaves the
        # two out of step until the next one repairs them: latest/model.pkl is another
        # registered version's model, and latest/metadata.json still names the version
        # latest/ stood for. That version's own folder is immutable: load it, verified against
        # its own sha256, so latest/ reads as it was.
        logger.warning(
            "%s and %s are out of step (a registration was interrupted or is running); "
            "loading the version %s names, %s, from its own folder. The next registration, "
            "or ModelRegistryDataset(path='%s').refresh_indexes(), repairs %s/.",
            self._shown(LATEST, MODEL),
            self._shown(LATEST, METADATA),
            METADATA,
            version_id,
            self._path,
            LATEST,
        )
        return self._load_verified(version_id, retries=0)

    def _interrupted_publication(self) -> str | None:
        """The version latest/metadata.json names, if latest/model.pkl is the committed model
        of some other version (a half-done copy into latest/); None if it is anything else,
        which is then refused as modified or damaged."""
        try:
            metadata = self._read_json(LATEST, METADATA)
        except DatasetError:
            return None
        version_id = (metadata or {}).get("version_id")
        content = self._read_bytes(LATEST, MODEL)
        if (
            not (isinstance(version_id, str) and VERSION_ID.fullmatch(version_id))
            or content is None
        ):
            return None
        digest = sha256(content)
        for candidate in reversed(self.committed_versions()):
            if (
                candidate != version_id
                and self._version_metadata(candidate).get("sha256") == digest
            ):
                return version_id
        return None

    def _load_verified(self, folder: str, retries: int) -> dict[str, Any]:
        for attempt in range(retries + 1):
            metadata = self._read_json(folder, METADATA)
            if (
                metadata is not None
                and folder != LATEST
                and metadata.get("version_id") != folder
            ):
                raise DatasetError(
                    f"Refusing to load {self._shown(folder)}: its {METADATA} describes version "
                    f"{str(metadata.get('version_id'))[:40]}, not {folder}, so model and metadata "
                    f"are not a registered pair (a file was copied or edited by hand). Restore "
                    f"the folder or delete it, and load another version (one of "
                    f"{', '.join(self.committed_versions()) or 'none'})."
                )
            if metadata is None:
                if folder == LATEST:
                    raise self._no_champion()
                self._version_metadata(
                    folder
                )  # raises, listing the registered versions
            content = self._read_bytes(folder, MODEL)
            expected = metadata.get("sha256")
            if content is not None and expected and sha256(content) == expected:
                return {
                    "model": pickle.loads(content),
                    "metadata": metadata,
                    "version_id": metadata.get("version_id", folder),
                }
            if attempt < retries:
                time.sleep(0.1 + _jitter.random() * 0.2)
        problem = (
            "is missing"
            if content is None
            else "has no sha256 in its metadata.json"
            if not expected
            else f"has sha256 {sha256(content)[:12]}..., not {expected[:12]}... as its "
            f"metadata.json records"
        )
        raise DatasetError(
            f"Refusing to load {self._shown(folder, MODEL)}: it {problem}. The file was modified "
            f"or damaged after registration. Load another version (pinned_version: one of "
            f"{', '.join(self.committed_versions()) or 'none'}) or register a new one with "
            f"`kedro run --pipelines {self._algorithm}`."
        )

    def _no_champion(self) -> DatasetError:
        committed = self.committed_versions()
        if not committed:
            return DatasetError(
                f"No model of '{self._algorithm}' is registered at {self._path} (no "
                f"{LATEST}/{METADATA}). Train one with `kedro run --pipelines "
                f"{self._algorithm}`."
            )
        champion = self.expected_index(committed, {})["champion"]
        if champion is not None:
            return DatasetError(
                f"{self._shown(LATEST, METADATA)} is missing although {champion} is the "
                f"champion of '{self._algorithm}' (deleted by hand?). Repair it with "
                f"ModelRegistryDataset(path='{self._path}').refresh_indexes(), or load "
                f"pinned_version {champion}."
            )
        return DatasetError(
            f"'{self._algorithm}' has no champion at {self._path}: none of its versions "
            f"({', '.join(committed)}) passed the champion gate (see 'status' and 'gate' in "
            f"{self._shown(INDEX)}). Train a better one with `kedro run --pipelines "
            f"{self._algorithm}`, or promote one by hand: kedro run --pipelines promote "
            f"--params promote.algorithm={self._algorithm},promote.version={committed[-1]},"
            f'promote.reason="...".'
        )
