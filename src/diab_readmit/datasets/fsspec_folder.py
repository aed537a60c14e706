"""One folder on any fsspec filesystem, as the snapshot and the registry datasets use it.

- Reads are one whole-object read (``cat_file``, a single GET on S3): a file replaced by a
  concurrent writer is read entirely before or entirely after, never half of each, and no
  ETag that s3fs cached before another process replaced the file is consulted.
- Writes are whole files: a temporary file and a rename where directories exist (local
  disk, memory), one PUT on S3, which is atomic by itself.
- Listings are fresh from the store: another process (another ECS task) may have written
  since.
- Exclusive creates (``_create_exclusive``) are the claims of commit_protocol: ``O_EXCL`` on
  local disk, a conditional PUT (``If-None-Match: *``) on S3.

A missing file reads as ``None`` and a missing folder lists as empty, but a missing bucket
is raised, for ``storage_errors_named`` to name.
"""

from __future__ import annotations

import errno
import uuid
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import DatasetError, get_protocol_and_path

from diab_readmit.datasets.storage_errors import is_missing_bucket

#: Filesystems where creating a directory is a real, atomic claim and a rename replaces a
#: file in one step (S3 has neither).
DIRECTORY_PROTOCOLS = ("file", "local", "memory")


class FsspecFolder:
    """Paths, reads, writes and listings under one folder (``path``: local or ``s3://``)."""

    def __init__(
        self,
        path: str,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
    ) -> None:
        protocol, stripped = get_protocol_and_path(path)
        self._protocol = protocol
        self._root = stripped.rstrip("/")
        self._path = path.rstrip("/")
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))

    @property
    def _has_directories(self) -> bool:
        return self._protocol in DIRECTORY_PROTOCOLS

    def _join(self, *parts: str) -> str:
        """The filesystem path of ``parts`` under the folder."""
        return str(PurePosixPath(self._root, *parts))

    def _shown(self, *parts: str) -> str:
        """``parts`` under the folder as the user wrote it (with ``s3://``), for messages."""
        return "/".join([self._path, *parts])

    def _read_bytes(self, *parts: str) -> bytes | None:
        try:
            return self._fs.cat_file(self._join(*parts))
        except FileNotFoundError as exc:
            if is_missing_bucket(exc):
                raise
            return None

    def _write_bytes(self, content: bytes, *parts: str) -> None:
        """Write a file whole: readers see the old content or the new, never a part."""
        target = self._join(*parts)
        if self._has_directories:
            self._fs.makedirs(str(PurePosixPath(target).parent), exist_ok=True)
            staging = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
            try:
                with self._fs.open(staging, "wb") as handle:
                    handle.write(content)
                self._fs.mv(staging, target)
            except BaseException:
                # A full disk, a dropped mount: the staging copy must not stay behind.
                if self._fs.exists(staging):
                    self._fs.rm(staging)
                raise
        else:
            with self._fs.open(target, "wb") as handle:
                handle.write(content)

    def _create_exclusive(self, content: bytes, *parts: str) -> bool:
        """Create a file only if it does not exist yet; False if it does. Atomic: of two
        processes creating the same file at once, exactly one gets True."""
        target = self._join(*parts)
        try:
            if self._protocol in ("file", "local"):
                self._fs.makedirs(str(PurePosixPath(target).parent), exist_ok=True)
                with self._fs.open(target, "xb") as handle:  # O_EXCL
                    handle.write(content)
            else:
                if self._has_directories:
                    self._fs.makedirs(str(PurePosixPath(target).parent), exist_ok=True)
                self._fs.pipe_file(target, content, mode="create")  # If-None-Match: *
        except FileExistsError:
            return False
        except OSError as exc:
            # S3 answers 409 ConditionalRequestConflict to the loser of a simultaneous create.
            if "ConditionalRequestConflict" in str(exc) or exc.errno == errno.EEXIST:
                return False
            raise
        if not self._has_directories and not getattr(self, "_exclusive_checked", False):
            self._check_exclusive_creates(target, content)
        return True

    def _check_exclusive_creates(self, target: str, content: bytes) -> None:
        """Refuse a server that ignores If-None-Match: every claim there would succeed."""
        try:
            self._fs.pipe_file(target, content, mode="create")
        except FileExistsError:
            self._exclusive_checked = True
            return
        raise DatasetError(
            f"The storage server of {self._path} ignores conditional writes (If-None-Match: *): "
            f"a second exclusive create of {self._protocol}://{target} succeeded. Two saves "
            f"could then claim the same id. Use AWS S3 or a server that supports conditional "
            f"PUTs (MinIO since 2024, moto >= 5), or save to local disk."
        )

    def _listing(self, *parts: str) -> list[str]:
        """Names directly under a folder, fresh from the store (no listing cache)."""
        folder = self._join(*parts)
        self._fs.invalidate_cache(folder)
        try:
            return sorted(
                PurePosixPath(p).name for p in self._fs.ls(folder, detail=False)
            )
        except FileNotFoundError as exc:
            if is_missing_bucket(exc):
                raise
            return []
