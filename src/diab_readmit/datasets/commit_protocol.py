"""The one commit protocol of every store: claim an id, write the files, write the commit
marker last, and read only what a marker names.

The gold stores (``_commits/g<time>/manifest.json``), the preprocessed snapshot
(``train_data_<time>/metadata.json``) and the model registry (``v<time>/metadata.json``) all
keep their saves in *id folders*:

- **One id format.** ``<prefix><UTC YYYYMMDD_HHMMSS>``, then ``_01``, ``_02``... for further
  saves in the same second. Ids sort in save order (:func:`in_commit_order`).
- **One claim rule.** A writer owns an id exactly when it *created* the folder's
  ``_claim.json`` (host, pid, time): an exclusive create, which is ``O_EXCL`` on local disk
  and a conditional PUT (``If-None-Match: *``) on S3, so of two writers at the same moment
  exactly one gets the id and the other moves on to the next suffix. The claim stays: it
  tells who wrote the folder, and keeps a committed id from ever being claimed again.
- **One commit rule.** A folder is committed exactly when its marker file exists; the marker
  is written last, whole (fsspec_folder), and lists what the save wrote with sha256s, which
  readers verify. A folder with a claim and no marker is a save that was killed (or is still
  running): readers never look at it, the next save reports it, and
  :meth:`CommitFolders.remove_incomplete` deletes those older than a given age.

A server that ignores ``If-None-Match`` would let two writers both "own" an id; the first
claim of each dataset checks for that and refuses to save there (see
:meth:`~diab_readmit.datasets.fsspec_folder.FsspecFolder._create_exclusive`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

from kedro.io.core import DatasetError

from diab_readmit.datasets.fsspec_folder import FsspecFolder
from diab_readmit.datasets.storage_errors import is_missing_bucket

logger = logging.getLogger(__name__)

CLAIM = "_claim.json"
#: Saves of one store in one second before giving up.
MAX_SAME_SECOND = 100
_STAMP = re.compile(r"(\d{8}_\d{6})(?:_(\d+))?$")


def id_pattern(prefix: str) -> re.Pattern[str]:
    """Ids of ``prefix``: ``<prefix>YYYYMMDD_HHMMSS`` with an optional ``_NN`` (older
    snapshots were suffixed ``_2``, ``_3``...; they still read)."""
    return re.compile(rf"{re.escape(prefix)}\d{{8}}_\d{{6}}(_\d+)?")


def commit_order_key(commit_id: str) -> tuple[str, int]:
    """Sort key of an id of any prefix: its second, then its suffix (``_09`` before ``_10``)."""
    match = _STAMP.search(commit_id)
    return (match[1], int(match[2] or 0)) if match else (commit_id, 0)


def in_commit_order(ids: Iterable[str]) -> list[str]:
    """``ids`` oldest first: by second, then by suffix (``_09`` before ``_10``)."""
    return sorted(ids, key=commit_order_key)


def claimed_at(commit_id: str) -> datetime | None:
    """The UTC second an id was claimed, read from the id itself."""
    match = _STAMP.search(commit_id)
    if match is None:
        return None
    return datetime.strptime(match[1], "%Y%m%d_%H%M%S").replace(tzinfo=UTC)


class CommitFolders:
    """The id folders of one store: claim, list committed and incomplete ones, remove.

    Args:
        folder: the store's folder.
        prefix: the id prefix (``v``, ``train_data_``, ``g``).
        marker: the commit marker's file name inside an id folder.
        under: sub-folder holding the id folders (``("_commits",)`` for the gold stores).
    """

    def __init__(
        self,
        folder: FsspecFolder,
        prefix: str,
        marker: str,
        under: tuple[str, ...] = (),
    ):
        self._folder = folder
        self._prefix = prefix
        self._marker = marker
        self._under = under
        self.pattern = id_pattern(prefix)

    def parts(self, commit_id: str, *names: str) -> tuple[str, ...]:
        """Path parts of ``names`` inside the id folder, for the folder's read/write helpers."""
        return (*self._under, commit_id, *names)

    def shown(self, commit_id: str, *names: str) -> str:
        return self._folder._shown(*self.parts(commit_id, *names))

    # ---------------------------------------------------------------- claim
    def claim(self, now: datetime) -> str:
        """Take a fresh id for a save starting at ``now`` (UTC)."""
        base = f"{self._prefix}{now:%Y%m%d_%H%M%S}"
        note = json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "claimed_at": now.isoformat(),
            }
        ).encode()
        for suffix in range(MAX_SAME_SECOND):
            commit_id = base if suffix == 0 else f"{base}_{suffix:02d}"
            if self._folder._create_exclusive(note, *self.parts(commit_id, CLAIM)):
                return commit_id
        raise DatasetError(
            f"Cannot find a free id for {base} under {self._folder._shown(*self._under)} after "
            f"{MAX_SAME_SECOND} tries: too many saves in one second."
        )

    # ---------------------------------------------------------------- listings
    def committed(self) -> list[str]:
        """Ids whose marker exists, oldest first: one listing of the whole store."""
        fs = self._folder._fs
        # Every cached listing: another process (another ECS task) may have committed since.
        fs.invalidate_cache()
        try:
            found = fs.glob(
                self._folder._join(*self._under, f"{self._prefix}*", self._marker)
            )
        except FileNotFoundError as exc:
            if is_missing_bucket(exc):
                raise
            return []
        ids = (PurePosixPath(path).parent.name for path in found)
        return in_commit_order(i for i in ids if self.pattern.fullmatch(i))

    def incomplete(self) -> list[str]:
        """Id folders without a marker, oldest first: saves that were killed, or are running."""
        committed = set(self.committed())
        names = self._folder._listing(*self._under)
        return in_commit_order(
            n for n in names if self.pattern.fullmatch(n) and n not in committed
        )

    def leftover_temporaries(self) -> list[str]:
        """``*.tmp-*`` staging files of writes that were killed, relative to the store."""
        fs = self._folder._fs
        root = self._folder._root
        try:
            found = fs.glob(f"{root}/**/*.tmp-*")
        except FileNotFoundError:
            return []
        return sorted(str(PurePosixPath(path).relative_to(root)) for path in found)

    # ---------------------------------------------------------------- removal
    def remove(self, commit_id: str) -> None:
        """Delete an id folder and everything in it."""
        self._folder._fs.rm(self._folder._join(*self.parts(commit_id)), recursive=True)
        self._folder._fs.invalidate_cache()

    def incomplete_older_than(
        self, older_than: timedelta, now: datetime | None = None
    ) -> list[str]:
        """Ids of incomplete folders claimed more than ``older_than`` before ``now``."""
        now = now or datetime.now(UTC)
        return [
            commit_id
            for commit_id in self.incomplete()
            if (claimed_at(commit_id) or now) <= now - older_than
        ]

    def remove_incomplete(
        self, older_than: timedelta, now: datetime | None = None, dry_run: bool = False
    ) -> list[str]:
        """Delete incomplete id folders claimed more than ``older_than`` ago (and leftover
        ``*.tmp-*`` files); returns what was (or, with ``dry_run``, would be) deleted.

        A folder younger than that may belong to a save that is still running: give an age
        longer than any save takes (a training run's registration: minutes).
        """
        now = now or datetime.now(UTC)
        old = self.incomplete_older_than(older_than, now)
        temporaries = [
            name
            for name in self.leftover_temporaries()
            if self._folder._fs.modified(self._folder._join(name)) <= now - older_than
        ]
        if not dry_run:
            for commit_id in old:
                self.remove(commit_id)
            for name in temporaries:
                self._folder._fs.rm(self._folder._join(name))
        return [self._folder._shown(*self.parts(c)) for c in old] + [
            self._folder._shown(name) for name in temporaries
        ]
