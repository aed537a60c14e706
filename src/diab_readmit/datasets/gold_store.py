"""The gold feature and label stores: one parquet table as Hive partitions, one per month.

Layout under ``path``::

    partition_date=1999-01-01/part-<token>.parquet
    partition_date=1999-02-01/part-<token>.parquet
    ...
    _manifest.json        # the commit point: which token is current, rows per partition

A save writes every partition under a fresh token, then replaces ``_manifest.json``, then
deletes files of other tokens. Readers read only the files the manifest names, so a save
that dies half-way leaves the previous contents readable and intact; its leftovers are
removed by the next successful save. This works the same on local disk and on S3, where
there is no atomic directory rename.
"""

from __future__ import annotations

import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.datasets.fsspec_folder import FsspecFolder
from diab_readmit.datasets.storage_errors import storage_errors_named

logger = logging.getLogger(__name__)

MANIFEST = "_manifest.json"


class _PartitionedStore(FsspecFolder):
    """What the store and its index share."""

    def __init__(
        self,
        path: str,
        partition_column: str = "partition_date",
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(path, credentials, fs_args)
        self._partition_column = partition_column
        self.metadata = metadata

    def read_manifest(self) -> dict[str, Any] | None:
        """The committed manifest, or None when nothing was ever saved here."""
        try:
            content = self._read_bytes(MANIFEST)
            return None if content is None else json.loads(content)
        except (FileNotFoundError, PermissionError):
            raise  # a missing bucket, no access: named with the bucket by storage_errors_named
        except (ValueError, OSError) as exc:
            raise DatasetError(
                f"The manifest {self._path}/{MANIFEST} is unreadable ({exc}). "
                f"Re-create the store with `kedro run --pipelines data_processing`."
            ) from exc

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "partition_column": self._partition_column}

    def _exists(self) -> bool:
        with storage_errors_named(self._path, "looking for"):
            return self.read_manifest() is not None


class PartitionedParquetStore(_PartitionedStore, AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A DataFrame stored as monthly Hive partitions of parquet files.

    ``save`` takes a DataFrame with a datetime ``partition_column`` holding the first day of
    each row's month; ``load`` returns all committed partitions as one DataFrame, in
    partition order, with that column restored.
    """

    def __init__(self, *args: Any, load_args: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._load_args = deepcopy(load_args or {})

    def load(self) -> pd.DataFrame:
        with storage_errors_named(self._path, "loading"):
            return self._load_partitions()

    def _load_partitions(self) -> pd.DataFrame:
        manifest = self.read_manifest()
        if manifest is None:
            raise DatasetError(
                f"No data at {self._path}: the store has never been written. "
                f"Run `kedro run --pipelines data_processing` first."
            )
        columns = self._load_args.get("columns")
        with ThreadPoolExecutor(max_workers=8 if self._protocol != "file" else 2) as pool:
            tables = list(pool.map(lambda p: self._read_partition(p, columns), manifest["partitions"]))
        if not tables:
            empty = pd.DataFrame(columns=manifest.get("columns", []))
            empty.attrs = manifest.get("attrs", {})
            return empty
        table = pa.concat_tables(tables, promote_options="default")
        del tables
        # One block per column, freeing Arrow buffers as they convert: at a million encounters
        # this halves peak memory compared with a plain to_pandas().
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        pa.default_memory_pool().release_unused()
        frame.attrs = manifest.get("attrs", {})
        return frame

    def _read_partition(self, partition: dict[str, Any], columns: list[str] | None) -> pa.Table:
        file = self._join(partition["file"])
        shown = f"{self._protocol}://{file}" if self._protocol != "file" else file
        try:
            with self._fs.open(file, "rb") as handle:
                table = pq.read_table(handle, columns=columns)
        except FileNotFoundError as exc:
            raise DatasetError(
                f"Partition file {shown} named in {self._path}/{MANIFEST} is missing. "
                f"The store was modified outside this pipeline; re-create it with "
                f"`kedro run --pipelines data_processing`."
            ) from exc
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DatasetError(
                f"Partition file {shown} is not a readable parquet file ({exc}). "
                f"It is corrupt or truncated; re-create the store with "
                f"`kedro run --pipelines data_processing`."
            ) from exc
        self._check_partition_values(table, partition["partition"], shown)
        return table

    def _check_partition_values(self, table: pa.Table, partition: str, shown: str) -> None:
        """Rows must carry the partition value of the directory they sit in."""
        column = self._partition_column
        if column not in table.column_names:
            return
        expected = pd.Timestamp(partition.split("=", 1)[1])
        values = table.column(column).to_pandas()
        wrong = values != expected
        if wrong.any():
            raise DatasetError(
                f"Partition file {shown} sits in {partition} but holds {int(wrong.sum())} row(s) "
                f"with {column} {pd.Timestamp(values[wrong].iloc[0]):%Y-%m-%d}. The store was "
                f"modified outside this pipeline; re-create it with "
                f"`kedro run --pipelines data_processing`."
            )

    def save(self, data: pd.DataFrame) -> None:
        with storage_errors_named(self._path, "saving"):
            self._save_partitions(data)

    def _save_partitions(self, data: pd.DataFrame) -> None:
        column = self._partition_column
        if column not in data.columns:
            raise DatasetError(
                f"Cannot save to {self._path}: the data has no '{column}' column to partition by."
            )
        if data[column].isna().any():
            example = data.loc[data[column].isna()].index[0]
            raise DatasetError(
                f"Cannot save to {self._path}: '{column}' is missing for some rows "
                f"(first at index {example})."
            )
        token = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        partitions = []
        for value, part in data.groupby(column, sort=True, observed=True):
            name = f"{column}={pd.Timestamp(value):%Y-%m-%d}"
            relative = f"{name}/part-{token}.parquet"
            if self._has_directories:
                # Not on S3, where s3fs's makedirs would create a missing bucket.
                self._fs.makedirs(self._join(name), exist_ok=True)
            table = pa.Table.from_pandas(part, preserve_index=False)
            with self._fs.open(self._join(relative), "wb") as handle:
                pq.write_table(table, handle)
            partitions.append({"partition": name, "file": relative, "rows": len(part)})

        manifest = {
            "token": token,
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "partition_column": column,
            "columns": list(map(str, data.columns)),
            "rows": int(len(data)),
            "partitions": partitions,
            # Store-level metadata handed over in DataFrame.attrs (e.g. the order audit).
            "attrs": json.loads(json.dumps(data.attrs, default=str)),
        }
        self._write_bytes(json.dumps(manifest, indent=1).encode(), MANIFEST)  # the commit point
        self._remove_stale_files(token)
        logger.info("Saved %d rows in %d partitions to %s", len(data), len(partitions), self._path)

    def _remove_stale_files(self, token: str) -> None:
        """Delete files of earlier or abandoned saves; the manifest no longer names them."""
        for file in self._fs.find(self._root):
            name = PurePosixPath(file).name
            if name == MANIFEST or (name.startswith("part-") and token in name):
                continue
            if name.startswith(("part-", "_manifest")):  # a manifest's staging copy
                self._fs.rm(file)
        for directory in sorted(self._fs.find(self._root, withdirs=True), reverse=True):
            if self._fs.isdir(directory) and not self._fs.ls(directory):
                self._fs.rmdir(directory)


class PartitionedParquetIndex(_PartitionedStore, AbstractDataset[None, dict[str, Any]]):
    """Read-only view of a store's manifest: where it is, which partitions, how many rows.

    Loading never reads the data, so prerequisite checks are cheap even on S3. A store that
    was never written loads as ``{"exists": False, "partitions": []}`` for the checks to
    report.
    """

    def load(self) -> dict[str, Any]:
        with storage_errors_named(self._path, "reading the manifest of"):
            manifest = self.read_manifest()
        if manifest is None:
            return {"path": self._path, "exists": False, "rows": 0, "partitions": []}
        return {
            "path": self._path,
            "exists": True,
            "rows": manifest["rows"],
            "attrs": manifest.get("attrs", {}),
            "partitions": [
                {"partition": p["partition"], "rows": p["rows"]} for p in manifest["partitions"]
            ],
        }

    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only; save to the store itself.")
