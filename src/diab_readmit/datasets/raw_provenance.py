"""Where a raw file came from: its sha256, and whether it is the demo's synthetic data.

``kedro run --pipelines synthetic`` writes, beside each file it makes, a sidecar
``<file>.provenance.json``: the file's sha256 and what made it (``demo: true`` and the
generator's settings, the *world*). A sidecar counts only while its sha256 is the file's, so
replacing the demo file by the real one (and forgetting the sidecar) makes it real data again.
``data_processing`` records the raw file's provenance in the gold stores, and from there every
snapshot and model version carries it: what the model was trained on. Inference refuses a
demo extract for a model trained on anything but that demo world, and the report draws
models trained on different raw files as different series.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

SIDECAR_SUFFIX = ".provenance.json"
_CHUNK = 8 * 1024 * 1024


def file_sha256(fs: Any, path: str) -> str:
    """The sha256 of the file at ``path`` on ``fs``, read in 8 MB chunks."""
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_sidecar(fs: Any, path: str, provenance: dict[str, Any]) -> None:
    """Write ``<path>.provenance.json``: ``provenance`` with the file's sha256 and size."""
    record = {
        **provenance,
        "file": PurePosixPath(path).name,
        "sha256": file_sha256(fs, path),
        "bytes": int(fs.size(path)),
    }
    with fs.open(f"{path}{SIDECAR_SUFFIX}", "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)


class RawFileProvenanceDataset(AbstractDataset[None, dict[str, Any]]):
    """Read-only: a raw CSV's path, sha256 and size, and its sidecar's ``demo``/``world``.

    Examples:
        Using the YAML API (conf/base/catalog_data_processing.yml)::

            raw_encounters_provenance:
              type: diab_readmit.datasets.raw_provenance.RawFileProvenanceDataset
              filepath: data/01_raw/diabetic_data.csv

        Using the Python API::

            RawFileProvenanceDataset(filepath="data/01_raw/diabetic_data.csv").load()
            # {"path": ..., "sha256": ..., "bytes": ..., "demo": False, "world": None}
    """

    def __init__(
        self,
        *,
        filepath: str,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = path if protocol == "file" else f"{protocol}://{path}"
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        path = self._filepath
        if not self._fs.exists(path):
            raise DatasetError(
                f"No raw file at {path}. Put the UCI diabetic_data.csv there, or run "
                f"`make run` to generate demo data first."
            )
        sha256 = file_sha256(self._fs, path)
        sidecar = self._read_sidecar()
        valid = sidecar is not None and sidecar.get("sha256") == sha256
        return {
            "path": path,
            "sha256": sha256,
            "bytes": int(self._fs.size(path)),
            "demo": bool(valid and sidecar.get("demo")),
            "world": sidecar.get("world") if valid else None,
        }

    def _read_sidecar(self) -> dict[str, Any] | None:
        sidecar = f"{self._filepath}{SIDECAR_SUFFIX}"
        if not self._fs.exists(sidecar):
            return None
        try:
            with self._fs.open(sidecar, "r", encoding="utf-8") as handle:
                content = json.load(handle)
        except (OSError, ValueError):
            return None  # unreadable: the file counts as data of unknown origin
        return content if isinstance(content, dict) else None

    def save(self, data: None) -> None:
        raise DatasetError(
            f"{self._filepath}: provenance is read from the file, never saved."
        )

    def _exists(self) -> bool:
        return self._fs.exists(self._filepath)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}


def same_data(trained_on: dict[str, Any] | None, scored: dict[str, Any]) -> bool:
    """Whether an extract with provenance ``scored`` belongs with a model trained on
    ``trained_on`` (the model's recorded raw file). A demo extract belongs only with a
    model trained on the same demo world; real extracts are not judged here."""
    if not scored.get("demo"):
        return True
    return bool(
        trained_on
        and trained_on.get("demo")
        and trained_on.get("world") == scored.get("world")
    )


def describe(provenance: dict[str, Any] | None) -> str:
    """A short phrase for messages and charts: ``demo data (seed 42, 100,000 encounters)``
    or ``data/01_raw/diabetic_data.csv (sha256 3f2a9c1b)``."""
    if not provenance:
        return "a raw file of unknown origin"
    if provenance.get("demo"):
        world = provenance.get("world") or {}
        return (
            f"demo data (seed {world.get('seed')}, "
            f"{int(world.get('n_encounters') or 0):,} encounters)"
        )
    return f"{provenance.get('path')} (sha256 {str(provenance.get('sha256'))[:8]})"
