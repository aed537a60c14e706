"""The model registry of one algorithm: immutable versions, plus two indexes derived from them.

Layout under ``path`` (``<paths.model_registry>/<algorithm>``)::

    v20260101_120000/                 # one version, never overwritten (commit_protocol)
        _claim.json                   # who took this id: host, pid, time
        model.pkl                     # pickled sklearn Pipeline(preprocess, classifier)
        plots/roc_curves.png ...      # the evaluation plots of this version
        model_card.md                 # written from the metadata below (diab_readmit.model_card)
        metadata.json                 # written LAST: the commit marker, with model.pkl's sha256
    v20260101_120000_01/              # a second version registered in the same second
    _promotions/p20260102_090000/     # one promotion by hand (commit_protocol, prefix p)
        _claim.json
        promotion.json                # the commit marker: version, user, time, reason
    latest/model.pkl + metadata.json  # copy of the CHAMPION (the production model)
    versions.json                     # index of every committed version, oldest first

A version is committed exactly when its ``metadata.json`` exists. ``latest/`` and
``versions.json`` are indexes that can always be rebuilt from the committed versions and
promotions, and they are only touched after a version or a promotion is committed.

**Champion.** ``latest/`` holds the champion, a function of the committed records alone:
replay, in id order, every version whose gate decision (``metadata["gate"]["decision"]``,
written by the training pipeline's gate) is ``promoted`` — or that has no gate record, as
registered before the gate existed or directly through this dataset — with every promotion
placed right after the newest version committed when it was made; the last one names the
champion (:func:`champion_and_statuses`). Each
version's ``status`` in ``versions.json`` follows: ``champion``; ``retired`` (was champion
once); ``rejected`` (failed the gate, never champion); ``candidate`` (passed the gate but
``auto_promote`` was off). Because the champion is derived, not stored, concurrent
registrations and promotions need no lock: the index loop below converges on it.

Two writers of the same algorithm at once (two ECS tasks) are safe on local disk and S3:

- **Ids.** A writer takes ``v<UTC second>`` by creating its ``_claim.json`` exclusively
  (``O_EXCL`` locally, ``If-None-Match: *`` on S3); if that file exists it tries ``_01``,
  ``_02``, ... so two writers never both own an id (commit_protocol).
- **Indexes.** After committing, a writer (registration or promotion) loops: list the
  committed versions and promotions, compare with ``versions.json`` and ``latest/`` (its
  metadata and the sha256 of its model.pkl), rewrite what differs, and list again, until
  what it reads back is consistent. Every writer ends with a check that passed after its own
  last write, so the last write of all is checked and the indexes end up listing every
  version and promotion, and ``latest/`` is the champion.

Loading ``latest/`` or a pinned version verifies model.pkl against the sha256 in its
metadata and refuses a mismatch or a missing metadata.json. A registration killed between
``latest/model.pkl`` and ``latest/metadata.json`` leaves them out of step; loading then reads
the version ``latest/metadata.json`` names from its own folder, so ``latest/`` reads as it was
until the next registration repairs it. A version whose model.pkl fails its sha256 is never
copied into ``latest/``. Folders of interrupted registrations (no metadata.json) are never
read and are listed in a warning by the next registration.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import random
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.contracts import RegistryHistory
from diab_readmit.datasets.commit_protocol import (
    CommitFolders,
    commit_order_key,
    id_pattern,
)
from diab_readmit.datasets.fsspec_folder import FsspecFolder
from diab_readmit.datasets.storage_errors import storage_errors_named
from diab_readmit.figures_io import png_bytes
from diab_readmit.model_card import render_model_card

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
#: Gate decisions (``metadata["gate"]["decision"]``); only ``promoted`` makes a champion.
PROMOTED, REJECTED, HELD = "promoted", "rejected", "held"
CHAMPION, RETIRED, CANDIDATE = "champion", "retired", "candidate"
#: Jitter between index checks and id retries; not the model's randomness.
_jitter = random.SystemRandom()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def champion_and_statuses(
    entries: list[dict[str, Any]], promotions: Iterable[dict[str, Any]]
) -> tuple[str | None, dict[str, str]]:
    """The champion and every version's status, from the committed records alone.

    Events in order: each version (in id order) whose gate promoted it, and each promotion
    right after the newest version committed when it was made (``after_version``; ties in
    promotion-id order). The last event names the champion.

    Args:
        entries: ``versions.json`` entries of the committed versions, oldest first (``id``,
            ``gate``).
        promotions: committed promotion records (``promotion_id``, ``version_id``,
            ``after_version``).

    Returns:
        The champion's id (None when no version ever passed nor was promoted) and
        ``{version id: champion | retired | rejected | candidate}``.
    """
    position = {entry["id"]: number for number, entry in enumerate(entries)}
    events = [
        (number, 0, ("", 0), entry["id"])
        for number, entry in enumerate(entries)
        if (entry.get("gate") or {}).get("decision", PROMOTED) == PROMOTED
    ]
    for record in promotions:
        if record.get("version_id") not in position:
            continue
        after = record.get("after_version")
        stamp = commit_order_key(record["promotion_id"])
        place = (
            position[after]
            if after in position
            else sum(commit_order_key(e["id"]) <= stamp for e in entries) - 1
        )
        events.append((place, 1, stamp, record["version_id"]))
    champions = [version_id for *_, version_id in sorted(events)]
    champion = champions[-1] if champions else None
    statuses = {}
    for entry in entries:
        version_id = entry["id"]
        if version_id == champion:
            statuses[version_id] = CHAMPION
        elif version_id in champions:
            statuses[version_id] = RETIRED
        elif (entry.get("gate") or {}).get("decision") == REJECTED:
            statuses[version_id] = REJECTED
        else:
            statuses[version_id] = CANDIDATE
    return champion, statuses


class _RegistryFolder(FsspecFolder):
    """What the bundle and the history views of one algorithm's folder share."""

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
            json.dumps(value, indent=2, default=_json_default).encode(), *parts
        )

    # ---------------------------------------------------------------- committed versions
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

    def _index_entry(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """What versions.json keeps of a version: its immutable fields (status is derived)."""
        performance = metadata.get("performance") or {}
        gate = metadata.get("gate")
        return {
            "id": metadata["version_id"],
            "created_at": metadata.get("created_at"),
            "test_auc_roc": (performance.get("test") or {}).get("auc_roc"),
            "oot_auc_roc": (performance.get("oot") or {}).get("auc_roc"),
            "snapshot_id": metadata.get("snapshot_id"),
            # The raw file the version was trained on: versions of different raw files
            # (the demo's and a hospital's) are never one series.
            "raw_source": _raw_source_of(metadata),
            "sha256": metadata.get("sha256"),
            "threshold": metadata.get("threshold"),
            "gate": None
            if gate is None
            else {
                key: gate.get(key)
                for key in (
                    "decision",
                    "passed",
                    "reasons",
                    "compared_with",
                    "paired",
                    "paired_rows",
                )
            },
        }

    # ---------------------------------------------------------------- promotions
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
                cached = self._index_entry(self._version_metadata(version_id))
            entries.append(
                {k: v for k, v in cached.items() if k not in ("status", "promotions")}
            )
        promotions = self.committed_promotions()
        champion, statuses = champion_and_statuses(entries, promotions)
        by_version: dict[str, list[dict[str, Any]]] = {}
        for record in promotions:
            by_version.setdefault(record["version_id"], []).append(
                {
                    key: record.get(key)
                    for key in ("promotion_id", "promoted_at", "promoted_by", "reason")
                }
            )
        for entry in entries:
            entry["status"] = statuses[entry["id"]]
            entry["promotions"] = by_version.get(entry["id"], [])
        index = {
            "algorithm": self._algorithm,
            "champion": champion,
            "latest": champion,
            "newest": committed[-1] if committed else None,
            "versions": entries,
            "promotions": promotions,
        }
        # As it reads back from the file, so that comparing with the file is exact.
        return json.loads(json.dumps(index, default=_json_default))

    def _describe(self) -> dict[str, Any]:
        return {
            "path": self._path,
            "protocol": self._protocol,
            "algorithm": self._algorithm,
        }


class ModelRegistryDataset(
    _RegistryFolder, AbstractDataset[dict[str, Any], dict[str, Any]]
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
        digest = _sha256(content)
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
            if content is not None and expected and _sha256(content) == expected:
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
            else f"has sha256 {_sha256(content)[:12]}..., not {expected[:12]}... as its "
            f"metadata.json records"
        )
        raise DatasetError(
            f"Refusing to load {self._shown(folder, MODEL)}: it {problem}. The file was modified "
            f"or damaged after registration. Load another version (pinned_version: one of "
            f"{', '.join(self.committed_versions()) or 'none'}) or register a new one with "
            f"`kedro run --pipelines {self._algorithm}`."
        )

    # ---------------------------------------------------------------- save
    def save(self, data: dict[str, Any]) -> None:
        with storage_errors_named(self._path, "registering a model in"):
            self._register(data)

    def _register(self, data: dict[str, Any]) -> None:
        model, metadata, plots = self._check_bundle(data)
        content = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        digest = _sha256(content)
        now = datetime.now(UTC)
        version_id, created_at = (
            self._commits.claim(now),
            now.isoformat(timespec="seconds"),
        )
        self._write_bytes(content, version_id, MODEL)
        plot_files = []
        for name, plot in plots.items():
            self._write_bytes(png_bytes(plot), version_id, PLOTS, name)
            plot_files.append(f"{PLOTS}/{name}")
        committed = {
            **metadata,
            "version_id": version_id,
            "created_at": created_at,
            "sha256": digest,
            "model_file": MODEL,
            "plots": plot_files,
            "model_card": MODEL_CARD,
        }
        try:
            encoded = json.dumps(committed, indent=2, default=_json_default).encode()
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                f"Cannot register {self._algorithm} {version_id}: its metadata is not "
                f"JSON-serialisable ({exc}); convert the value to str / int / float."
            ) from exc
        # From the metadata as committed (after the JSON round trip), so they cannot disagree.
        card = render_model_card(json.loads(encoded))
        self._write_bytes(card.encode(), version_id, MODEL_CARD)
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

    # ---------------------------------------------------------------- promotion
    def promote(
        self, version_id: str, reason: str, user: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """Make a committed version the champion (a promotion, or a rollback to an older one).

        Checks that the version is complete and that its model.pkl matches its sha256, then
        commits a promotion record (who, when, why) and brings the indexes and ``latest/`` in
        line. Returns the record.
        """
        with storage_errors_named(self._path, "promoting a model in"):
            if not VERSION_ID.fullmatch(str(version_id)):
                raise DatasetError(
                    f"'{version_id}' is not a version id of '{self._algorithm}': expected "
                    f"v<YYYYMMDD_HHMMSS> (optionally _NN), one of "
                    f"{', '.join(self.committed_versions()) or 'none'}."
                )
            metadata = self._version_metadata(
                version_id
            )  # raises, listing the versions
            self._verified_model_bytes(version_id, metadata)
            now = now or datetime.now(UTC)
            previous = self._read_index().get("champion")
            promotion_id = self._promotions.claim(now)
            record = {
                "promotion_id": promotion_id,
                "version_id": version_id,
                # Where the promotion sits among the versions (champion_and_statuses): after
                # every version committed by now; a later one that passes the gate wins.
                "after_version": self.committed_versions()[-1],
                "sha256": metadata.get("sha256"),
                "promoted_at": now.isoformat(timespec="seconds"),
                "promoted_by": user,
                "reason": reason,
                "previous_champion": previous,
            }
            self._write_json(record, *self._promotions.parts(promotion_id, PROMOTION))
            self.refresh_indexes()
            champion = self._read_index().get("champion")
        logger.info(
            "Promoted %s %s (sha256 %s verified) by %s: %s. Champion was %s, is now %s; "
            "latest/ at %s.",
            self._algorithm,
            version_id,
            str(metadata.get("sha256"))[:12],
            user,
            reason,
            previous or "none",
            champion,
            self._shown(LATEST),
        )
        return record

    def _verified_model_bytes(self, version_id: str, metadata: dict[str, Any]) -> bytes:
        content = self._read_bytes(version_id, MODEL)
        expected = metadata.get("sha256")
        if content is None or not expected or _sha256(content) != expected:
            found = (
                "missing" if content is None else f"sha256 {_sha256(content)[:12]}..."
            )
            raise DatasetError(
                f"Refusing to promote {self._shown(version_id, MODEL)}: it is {found}, not "
                f"{str(expected)[:12]}... as its {METADATA} records; it was modified or "
                f"damaged after registration. {LATEST}/ is unchanged. Promote another "
                f"version (one of {', '.join(self.committed_versions()) or 'none'})."
            )
        return content

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

    def _check_bundle(self, data: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        if not isinstance(data, dict) or not {"model", "metadata"} <= set(data):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise DatasetError(
                f"Cannot register to {self._path}: expected a dict with 'model', 'metadata' "
                f"and optionally 'plots', got {got}."
            )
        plots = data.get("plots") or {}
        bad_names = [n for n in plots if "/" in n or not n.endswith(".png")]
        if bad_names:
            raise DatasetError(
                f"Cannot register to {self._path}: plot names {bad_names} must be plain "
                f"'<name>.png' file names."
            )
        return data["model"], dict(data["metadata"]), plots

    # ---------------------------------------------------------------- indexes
    def refresh_indexes(self) -> None:
        """Bring ``versions.json`` and ``latest/`` in line with the committed versions.

        Safe to run at any time and from several processes at once (see the module notes);
        also how to repair indexes that were deleted or damaged by hand.
        """
        for _ in range(self._index_attempts):
            committed = self.committed_versions()
            if not committed:
                return
            index = self._read_index()
            known = {entry.get("id"): entry for entry in index.get("versions", [])}
            expected = self.expected_index(committed, known)
            champion = expected["champion"]
            index_ok = index == expected
            # No champion (every version rejected so far): latest/ is left as it is.
            latest_ok = champion is None or self._latest_is(champion)
            if index_ok and latest_ok:
                return
            if not latest_ok:
                self._publish_latest(champion)
            if not index_ok:
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
        return content is not None and _sha256(content) == metadata.get("sha256")

    def _publish_latest(self, version_id: str) -> None:
        model = self._read_bytes(version_id, MODEL)
        metadata = self._read_bytes(version_id, METADATA)
        if model is None or metadata is None:
            raise DatasetError(
                f"Version {version_id} at {self._shown(version_id)} lost its {MODEL} or "
                f"{METADATA} after it was committed; restore the files or delete the folder."
            )
        expected = json.loads(metadata).get("sha256")
        if _sha256(model) != expected:
            # latest/ must never point at a model that would be refused on load.
            raise DatasetError(
                f"Not publishing {version_id} as {LATEST}/: {self._shown(version_id, MODEL)} "
                f"has sha256 {_sha256(model)[:12]}..., not {str(expected)[:12]}... as its "
                f"{METADATA} records; it was modified or damaged after registration. "
                f"{LATEST}/ is unchanged. Delete the folder {self._shown(version_id)} (or "
                f"restore its {MODEL}) and register again with `kedro run --pipelines "
                f"{self._algorithm}`."
            )
        self._write_bytes(model, LATEST, MODEL)
        self._write_bytes(metadata, LATEST, METADATA)

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


def champion_metadata(
    path: str,
    credentials: dict[str, Any] | None = None,
    fs_args: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """metadata.json of the champion of the registry at ``path``
    (``<paths.model_registry>/<algorithm>``), or None when it has none. Unpickles nothing."""
    history = ModelRegistryHistoryDataset(
        path=path, credentials=credentials, fs_args=fs_args
    )
    return history.load()["latest"]


class ModelRegistryHistoryDataset(
    _RegistryFolder, AbstractDataset[None, RegistryHistory]
):
    """Read-only view of one algorithm's registry, without unpickling any model.

    Loads a ``contracts.RegistryHistory``: ``algorithm``, ``latest`` (metadata.json of the
    champion, what latest/ holds, or None), ``champion`` (its id), ``newest`` (metadata.json
    of the newest version), ``versions`` (versions.json entries with status and gate, oldest
    first), ``promotions`` (the promotion records) and ``plots`` ({file name: PNG bytes} of
    the champion). A registry nothing was ever registered to loads as ``latest: None``, no
    versions, no plots.

    Examples:
        Using the YAML API (conf/base/catalog_training.yml)::

            "{algorithm}.model_registry@history":
              type: diab_readmit.datasets.model_registry.ModelRegistryHistoryDataset
              path: ${globals:paths.model_registry}/{algorithm}

        Using the Python API::

            history = ModelRegistryHistoryDataset(
                path="data/06_models/model_registry/xgboost"
            )
            [version["id"] for version in history.load()["versions"]]
    """

    def load(self) -> RegistryHistory:
        with storage_errors_named(self._path, "reading the model history in"):
            return self._load_history()

    def _load_history(self) -> RegistryHistory:
        committed = self.committed_versions()
        if not committed:
            return RegistryHistory(
                algorithm=self._algorithm,
                latest=None,
                champion=None,
                newest=None,
                versions=[],
                promotions=[],
                plots={},
                model_card=None,
            )
        try:
            index = self._read_json(INDEX) or {}
        except DatasetError:
            index = {}
        # The committed versions and promotions are the truth the index is derived from;
        # the index only saves reading the metadata of versions it already lists.
        known = {entry.get("id"): entry for entry in index.get("versions", [])}
        expected = self.expected_index(committed, known)
        champion = expected["champion"]
        # The champion's own metadata: what latest/ holds once settled.
        latest = None if champion is None else self._version_metadata(champion)
        plots: dict[str, bytes] = {}
        for relative in (latest or {}).get("plots", []):
            content = self._read_bytes(champion, *relative.split("/"))
            if content is not None:
                plots[PurePosixPath(relative).name] = content
        # The champion's model card, like its plots: what latest/ describes.
        card = (
            None
            if champion is None
            else self._read_bytes(champion, latest.get("model_card", MODEL_CARD))
        )
        return RegistryHistory(
            algorithm=self._algorithm,
            latest=latest,
            champion=champion,
            newest=latest
            if champion == committed[-1]
            else self._version_metadata(committed[-1]),
            versions=expected["versions"],
            promotions=expected["promotions"],
            plots=plots,
            model_card=card.decode() if card is not None else None,
        )

    def save(self, data: None) -> None:
        raise DatasetError(
            f"{type(self).__name__} ({self._path}) is read-only; models are registered through "
            f"'{self._algorithm}.model_registry@bundle'."
        )

    def _exists(self) -> bool:
        return True  # an empty registry is a valid, empty history


def _raw_source_of(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The raw file a version was trained on (``population.raw_source``): its sha256 and
    whether it is demo data, or None for versions registered before this was recorded."""
    source = (metadata.get("population") or {}).get("raw_source")
    if not source:
        return None
    return {key: source.get(key) for key in ("path", "sha256", "demo", "world")}
