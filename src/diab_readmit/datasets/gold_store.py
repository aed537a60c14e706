"""The gold feature and label stores: one parquet table as Hive partitions, one per month.

Layout under ``path`` (the id folders of commit_protocol live under ``_commits/``)::

    partition_date=1999-01-01/part-g20260101_120000.parquet
    partition_date=1999-02-01/part-g20260101_120000.parquet
    ...
    _commits/g20260101_120000/_claim.json    # who took this id
    _commits/g20260101_120000/manifest.json  # the commit marker: files and rows per partition
    _manifest.json        # a copy of the current commit's manifest, for people and tools

A save claims an id, writes every partition as ``part-<id>.parquet``, then writes its
marker. Readers read only the files of the *current* commit: the newest one whose marker
exists. A save that dies half-way leaves the current commit readable and intact.

**Two stores, one commit.** The feature and the label store are declared with
``commits_with: {path: <the other store>}`` naming each other. Their saves in one run share one id (the first of the two
claims it in both stores), and a commit is current only once its marker exists in *both*
stores. So a run whose feature store fails validation, or dies between the two saves, leaves
both stores reading as before: old features are never joined to new labels.

**Concurrent runs.** Files are deleted only when they belong to a commit older than the
previous current one (which stays for readers still reading it) — never the files of a save
in progress, and never what the current commit names. Of two runs saving at once, the one
whose save started last wins, whole; the other's commit is complete but superseded.

This works the same on local disk and on S3, where there is no atomic directory rename.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io.core import AbstractDataset, DatasetError

from diab_readmit.datasets.commit_protocol import CLAIM, CommitFolders
from diab_readmit.datasets.fsspec_folder import FsspecFolder
from diab_readmit.datasets.storage_errors import storage_errors_named
from diab_readmit.engine import is_dask_frame

logger = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
COMMITS = "_commits"
MARKER = "manifest.json"
PREFIX = "g"
#: Per pair of stores, within one run: the id both saves share, and the commit loads read.
_RUN_COMMITS: dict[frozenset[str], str] = {}
_RUN_READS: dict[frozenset[str], str] = {}


def start_new_run() -> None:
    """Forget the ids of the previous run (called by run_hooks before and after each run)."""
    _RUN_COMMITS.clear()
    _RUN_READS.clear()


def _remove_if_there(fs, path: str) -> None:
    try:
        fs.rm(path)
    except FileNotFoundError:
        pass  # removed by a concurrent save meanwhile


def gold_store_pair(
    feature_path: str, label_path: str, **options: Any
) -> tuple[PartitionedParquetStore, PartitionedParquetStore]:
    """The feature and the label store, committing together, as the catalog declares them
    (``options``: credentials, fs_args). Call ``start_new_run()`` before a pair of saves."""
    return (
        PartitionedParquetStore(path=feature_path, commits_with=label_path, **options),
        PartitionedParquetStore(path=label_path, commits_with=feature_path, **options),
    )


class _PartitionedStore(FsspecFolder):
    """What the store and its index share: finding and reading the current commit."""

    def __init__(
        self,
        *,
        path: str,
        partition_column: str = "partition_date",
        commits_with: str | dict[str, str] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """The store in the folder ``path``.

        Args:
            path: the store's folder, e.g. ``data/04_feature/feature_store`` or
                ``s3://bucket/gold/feature_store``.
            partition_column: the datetime column whose values (first days of months) name
                the partitions.
            commits_with: the partner store that commits together with this one, as
                ``{path: <its folder>}`` (a ``path`` key, so Kedro makes it absolute) or a
                plain path.
            credentials: passed to the fsspec filesystem (e.g. ``key``/``secret`` for s3fs).
            fs_args: extra arguments of the fsspec filesystem (e.g. ``config_kwargs``).
            metadata: free-form, for kedro-viz and hooks; ignored by the dataset.
        """
        super().__init__(path, credentials, fs_args)
        if isinstance(
            commits_with, dict
        ):  # the catalog's {path: ...}, made absolute by Kedro
            commits_with = commits_with["path"]
        self._partition_column = partition_column
        self._commits = CommitFolders(self, PREFIX, MARKER, under=(COMMITS,))
        self._partner = (
            None
            if commits_with is None
            else _PartitionedStore(
                path=commits_with,
                partition_column=partition_column,
                credentials=credentials,
                fs_args=fs_args,
            )
        )
        self._pair = frozenset(
            {self._identity, *([self._partner._identity] if self._partner else [])}
        )
        self._pinned_for_run = False
        self.metadata = metadata

    @property
    def _identity(self) -> str:
        """The store's location, the same however it was written (relative or absolute)."""
        if self._protocol in ("file", "local"):
            return os.path.abspath(self._root)
        return f"{self._protocol}://{self._root}"

    def pin_for_run(self) -> None:
        """Every load of the run reads the commit the run's first load of the pair read."""
        self._pinned_for_run = True

    def unpin(self) -> None:
        self._pinned_for_run = False

    def current_commit(self) -> str | None:
        """The newest commit of this store (and of its partner, when it has one)."""
        if self._pinned_for_run and self._pair in _RUN_READS:
            return _RUN_READS[self._pair]
        committed = self._commits.committed()
        if self._partner is not None:
            both = set(self._partner._commits.committed())
            alone = [c for c in committed if c not in both]
            committed = [c for c in committed if c in both]
            if alone and (not committed or alone[-1] > committed[-1]):
                logger.warning(
                    "%s has commit %s, which %s lacks (its data_processing run failed, or is "
                    "still saving): reading %s of both stores instead.",
                    self._path,
                    alone[-1],
                    self._partner._path,
                    committed[-1] if committed else "none",
                )
        current = committed[-1] if committed else None
        if self._pinned_for_run and current is not None:
            _RUN_READS[self._pair] = current
        return current

    def read_manifest(self, commit_id: str | None = None) -> dict[str, Any] | None:
        """The manifest of the current (or the given) commit, or None when nothing was ever
        committed here."""
        commit_id = commit_id or self.current_commit()
        if commit_id is None:
            return None
        try:
            content = self._read_bytes(*self._commits.parts(commit_id, MARKER))
            if content is None:
                raise ValueError("the file disappeared while reading it")
            return json.loads(content)
        except (FileNotFoundError, PermissionError):
            raise  # a missing bucket, no access: named with the bucket by storage_errors_named
        except (ValueError, OSError) as exc:
            raise DatasetError(
                f"The manifest {self._commits.shown(commit_id, MARKER)} is unreadable ({exc}). "
                f"Re-create the store with `kedro run --pipelines data_processing`."
            ) from exc

    def refresh_index(self) -> None:
        """Rewrite ``_manifest.json`` as a copy of the current commit's manifest."""
        manifest = self.read_manifest()
        if manifest is not None:
            self._write_bytes(json.dumps(manifest, indent=1).encode(), MANIFEST)

    def remove_superseded(self) -> list[str]:
        """Delete the files of commits older than the previous current one (kept for readers
        still reading it); a save in progress or the current commit are never touched."""
        committed = self._commits.committed()
        if self._partner is not None:
            both = set(self._partner._commits.committed())
            complete = [c for c in committed if c in both]
        else:
            complete = committed
        if len(complete) < 2:
            return []
        removed = committed[: committed.index(complete[-2])]
        for commit_id in removed:
            content = self._read_bytes(*self._commits.parts(commit_id, MARKER))
            if content is None:
                continue  # being removed by a concurrent save
            # The marker first: a half-removed commit is then incomplete, never read.
            _remove_if_there(
                self._fs, self._join(*self._commits.parts(commit_id, MARKER))
            )
            for partition in json.loads(content).get("partitions", []):
                _remove_if_there(self._fs, self._join(partition["file"]))
            try:
                self._commits.remove(commit_id)
            except FileNotFoundError:
                pass
        if removed and self._has_directories:
            for directory in self._fs.ls(self._root, detail=False):
                try:
                    if self._fs.isdir(directory) and not self._fs.ls(directory):
                        self._fs.rmdir(directory)
                except OSError:
                    pass  # a concurrent save is writing into it again
        return removed

    def remove_incomplete(self, older_than, dry_run: bool = False) -> list[str]:
        """Delete the files and folders of saves claimed more than ``older_than`` ago that
        never committed (see commit_protocol); returns what was (or would be) deleted."""
        if not dry_run:
            for commit_id in self._commits.incomplete_older_than(older_than):
                for file in self._fs.glob(self._join("*", f"part-{commit_id}.parquet")):
                    self._fs.rm(file)
        return self._commits.remove_incomplete(older_than, dry_run=dry_run)

    def _describe(self) -> dict[str, Any]:
        return {
            "path": self._path,
            "protocol": self._protocol,
            "partition_column": self._partition_column,
            "commits_with": self._partner._path if self._partner else None,
        }

    def _exists(self) -> bool:
        with storage_errors_named(self._path, "looking for"):
            return self.current_commit() is not None


class PartitionedParquetStore(
    _PartitionedStore, AbstractDataset[pd.DataFrame, pd.DataFrame]
):
    """A DataFrame stored as monthly Hive partitions of parquet files.

    ``save`` takes a DataFrame with a datetime ``partition_column`` holding the first day of
    each row's month; ``load`` returns all committed partitions as one DataFrame, in
    partition order, with that column restored.

    Examples:
        Using the YAML API (conf/base/catalog.yml)::

            "feature_store@frame":
              type: diab_readmit.datasets.gold_store.PartitionedParquetStore
              path: s3://bucket/gold/feature_store
              commits_with:
                path: s3://bucket/gold/label_store
              load_args:
                columns: [encounter_id, partition_date, age_midpoint]
              validator: diab_readmit.datasets.gold_validators.FeatureStoreValidator

        Using the Python API::

            features, labels = gold_store_pair(
                "data/04_feature/feature_store", "data/04_feature/label_store"
            )
            features.load()
    """

    def __init__(
        self,
        *,
        path: str,
        partition_column: str = "partition_date",
        commits_with: str | dict[str, str] | None = None,
        load_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """The store in the folder ``path``.

        Args:
            load_args: ``columns``: load only these columns (and the partition column).
            path, partition_column, commits_with, credentials, fs_args, metadata: as for
                ``PartitionedParquetIndex`` (``_PartitionedStore``).
        """
        super().__init__(
            path=path,
            partition_column=partition_column,
            commits_with=commits_with,
            credentials=credentials,
            fs_args=fs_args,
            metadata=metadata,
        )
        self._load_args = deepcopy(load_args or {})

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "load_args": self._load_args}

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
        with ThreadPoolExecutor(
            max_workers=8 if self._protocol != "file" else 2
        ) as pool:
            tables = list(
                pool.map(
                    lambda p: self._read_partition(p, columns), manifest["partitions"]
                )
            )
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

    def _read_partition(
        self, partition: dict[str, Any], columns: list[str] | None
    ) -> pa.Table:
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
        if table.num_rows != partition["rows"]:
            raise DatasetError(
                f"Partition file {shown} holds {table.num_rows} rows, but its commit's manifest "
                f"records {partition['rows']}. The store was modified outside this pipeline; "
                f"re-create it with `kedro run --pipelines data_processing`."
            )
        self._check_partition_values(table, partition["partition"], shown)
        return table

    def _check_partition_values(
        self, table: pa.Table, partition: str, shown: str
    ) -> None:
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
        if is_dask_frame(data):
            self._save_dask_partitions(data)
            return
        if data[column].isna().any():
            example = data.loc[data[column].isna()].index[0]
            raise DatasetError(
                f"Cannot save to {self._path}: '{column}' is missing for some rows "
                f"(first at index {example})."
            )
        commit_id = self._claim_for_run()
        partitions = self._write_months(data, commit_id).to_dict("records")
        self._commit(commit_id, partitions, list(data.columns), data.attrs)

    def _save_dask_partitions(self, data) -> None:
        """A Dask DataFrame (``DIAB_ENGINE=dask``): rows are shuffled by month, the workers
        write the month files of this commit, then this process writes the marker — the same
        commit as a pandas save. Within a month rows are in index order, as ``groupby``
        keeps them on the pandas path."""
        commit_id = self._claim_for_run()
        by_month = data.shuffle(on=self._partition_column)
        written = by_month.map_partitions(
            self._write_months,
            commit_id,
            in_index_order=True,
            meta=pd.DataFrame(
                {
                    "partition": pd.Series(dtype=object),
                    "file": pd.Series(dtype=object),
                    "rows": pd.Series(dtype="int64"),
                }
            ),
        ).compute()
        partitions = written.sort_values("partition").to_dict("records")
        # Dask frames have no attrs: the producing node puts them on the frame's meta.
        self._commit(commit_id, partitions, list(data.columns), data._meta.attrs)

    def _write_months(
        self, data: pd.DataFrame, commit_id: str, in_index_order: bool = False
    ) -> pd.DataFrame:
        """Write one ``part-<commit_id>.parquet`` per month of ``data`` (rows sorted by the
        index first when ``in_index_order``); returns what was written."""
        column = self._partition_column
        missing = data[column].isna()
        if missing.any():
            raise DatasetError(
                f"Cannot save to {self._path}: '{column}' is missing for some rows "
                f"(first at index {data.index[missing.to_numpy()][0]})."
            )
        if in_index_order and not data.index.is_monotonic_increasing:
            data = data.sort_index(kind="stable")
        partitions = []
        for value, part in data.groupby(column, sort=True, observed=True):
            name = f"{column}={pd.Timestamp(value):%Y-%m-%d}"
            relative = f"{name}/part-{commit_id}.parquet"
            table = pa.Table.from_pandas(part, preserve_index=False)
            self._write_partition(table, name, relative)
            partitions.append({"partition": name, "file": relative, "rows": len(part)})
        return pd.DataFrame(partitions, columns=["partition", "file", "rows"]).astype(
            {"rows": "int64"}
        )

    def _commit(
        self,
        commit_id: str,
        partitions: list[dict[str, Any]],
        columns: list[Any],
        attrs: dict[str, Any],
    ) -> None:
        partitions = [{**p, "rows": int(p["rows"])} for p in partitions]
        rows = sum(p["rows"] for p in partitions)
        manifest = {
            "commit_id": commit_id,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "partition_column": self._partition_column,
            "columns": list(map(str, columns)),
            "rows": rows,
            "partitions": partitions,
            "commits_with": self._partner._path if self._partner else None,
            # Store-level metadata handed over in DataFrame.attrs (e.g. the order audit).
            "attrs": json.loads(json.dumps(attrs, default=str)),
        }
        self._write_bytes(
            json.dumps(manifest, indent=1).encode(),
            *self._commits.parts(commit_id, MARKER),
        )
        logger.info(
            "Saved %d rows in %d partitions to %s (commit %s)",
            rows,
            len(partitions),
            self._path,
            commit_id,
        )
        stores = [self] if self._partner is None else [self, self._partner]
        if (
            self._partner is not None
            and commit_id not in self._partner._commits.committed()
        ):
            return  # the pair is committed, indexed and tidied by the partner's save
        _RUN_COMMITS.pop(self._pair, None)
        _RUN_READS.pop(
            self._pair, None
        )  # later loads of the run read what it just committed
        for store in stores:
            store.refresh_index()
        for store in stores:
            store.remove_superseded()

    def _write_partition(self, table: pa.Table, name: str, relative: str) -> None:
        for attempt in range(3):
            if self._has_directories:
                # Not on S3, where s3fs's makedirs would create a missing bucket.
                self._fs.makedirs(self._join(name), exist_ok=True)
            try:
                with self._fs.open(self._join(relative), "wb") as handle:
                    pq.write_table(table, handle)
                return
            except FileNotFoundError:
                if attempt == 2 or not self._has_directories:
                    raise
                # A concurrent save removed the partition's folder as it emptied: make it again.

    def _claim_for_run(self) -> str:
        """The commit id of this save: the one the partner's save of this run claimed in both
        stores, or a fresh one (claimed in both stores, for the partner's save to use)."""
        shared = _RUN_COMMITS.get(self._pair)
        if shared is not None and shared not in self._commits.committed():
            return shared
        while True:
            commit_id = self._commits.claim(datetime.now(UTC))
            if self._partner is None:
                return commit_id
            if self._partner._create_exclusive(
                b"{}", *self._partner._commits.parts(commit_id, CLAIM)
            ):
                _RUN_COMMITS[self._pair] = commit_id
                return commit_id
            # The partner has this id from another run (saves in the same second): next one.


class PartitionedParquetIndex(_PartitionedStore, AbstractDataset[None, dict[str, Any]]):
    """Read-only view of a store's manifest: where it is, which partitions, how many rows.

    Loading never reads the data, so prerequisite checks are cheap even on S3. A store that
    was never written loads as ``{"exists": False, "partitions": []}`` for the checks to
    report. Takes the store's own arguments (``path``, ``commits_with``, ...).

    Examples:
        Using the YAML API (conf/base/catalog_preprocessing.yml)::

            "feature_store@index":
              type: diab_readmit.datasets.gold_store.PartitionedParquetIndex
              path: ${globals:paths.feature_store}
              commits_with:
                path: ${globals:paths.label_store}

        Using the Python API::

            index = PartitionedParquetIndex(path="data/04_feature/feature_store")
            index.load()["rows"]
    """

    def load(self) -> dict[str, Any]:
        with storage_errors_named(self._path, "reading the manifest of"):
            manifest = self.read_manifest()
        if manifest is None:
            return {"path": self._path, "exists": False, "rows": 0, "partitions": []}
        return {
            "path": self._path,
            "exists": True,
            "commit_id": manifest.get("commit_id"),
            "rows": manifest["rows"],
            "attrs": manifest.get("attrs", {}),
            "partitions": [
                {"partition": p["partition"], "rows": p["rows"]}
                for p in manifest["partitions"]
            ],
        }

    def save(self, data: None) -> None:
        raise DatasetError(
            f"{type(self).__name__} is read-only; save to the store itself."
        )
