"""A DataFrame as a Delta Lake table partitioned by month: the gold feature and label stores
(each save replaces the table) and the scored stores (each save MERGEs rows in by key).

Layout under ``path``, as every Delta reader expects it::

    _delta_log/00000000000000000000.json ...   # the versions: which files, and our record
    partition_date=1999-01-01/part-....parquet   # partition_date is a Delta `date` column

A save is one Delta commit: readers see the whole new version or the old one, never a mix,
whatever engine they use. Two stores declared with ``commits_with`` commit together
(``table_pairs``): both are validated before either commits, and the store with
``records_pair: true`` commits last, naming the version of its partner that goes with it.

Loads return the rows of the version the run pinned (``table_pairs``) in
(``partition_column``, ``order_by``) order, with ``partition_column`` as ``datetime64[ms]``
and the commit's ``attrs`` (e.g. the order audit) on ``DataFrame.attrs``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from typing import Any

import pandas as pd
import pyarrow as pa
from deltalake.transaction import CommitProperties
from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

from diab_readmit.datasets import table_pairs
from diab_readmit.datasets.delta_access import (
    COMMIT_KEY,
    commit_record,
    open_table,
    read_arrow,
    refuse_old_layout,
    storage_options,
    table_errors_named,
)
from diab_readmit.datasets.delta_files import save_as_new_version
from diab_readmit.datasets.delta_frames import to_arrow, to_frame
from diab_readmit.datasets.delta_writes import merge_into_table
from diab_readmit.engine import is_dask_frame

logger = logging.getLogger(__name__)

#: Concurrent MERGEs into the same partitions conflict; the loser merges again.
MERGE_ATTEMPTS = 8


def table_identity(path: str) -> str:
    """The table's location, the same however it was written (relative or absolute)."""
    protocol, stripped = get_protocol_and_path(path)
    if protocol in ("file", "local"):
        return os.path.abspath(stripped)
    return f"{protocol}://{stripped.rstrip('/')}"


def store_pair(
    first_path: str, record_path: str, **options: Any
) -> tuple[DeltaTableStore, DeltaTableStore]:
    """Two stores committing together, as the catalog declares them: ``first_path``
    commits first, ``record_path`` last, naming the first's version (``options``: key,
    credentials, fs_args). Call ``table_pairs.start_new_run()`` before a pair of saves."""
    return (
        DeltaTableStore(path=first_path, commits_with=record_path, **options),
        DeltaTableStore(
            path=record_path, commits_with=first_path, records_pair=True, **options
        ),
    )


class DeltaTableStore(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A monthly-partitioned Delta table, saved whole (``key`` unset) or merged by ``key``.

    Examples:
        Using the YAML API (conf/base/catalog.yml)::

            "feature_store@frame":
              type: diab_readmit.datasets.delta_store.DeltaTableStore
              path: s3://bucket/gold/feature_store
              commits_with:
                path: s3://bucket/gold/label_store
              validator: diab_readmit.datasets.gold_validators.FeatureStoreValidator

            inference.predictions:
              type: diab_readmit.datasets.delta_store.DeltaTableStore
              path: data/07_model_output/predictions
              key: encounter_id
              commits_with:
                path: data/04_feature/scored_feature_store
              records_pair: true

        Using the Python API::

            store = DeltaTableStore(path="data/04_feature/feature_store")
            store.load()
    """

    def __init__(
        self,
        *,
        path: str,
        partition_column: str = "partition_date",
        order_by: list[str] | None = None,
        key: str | None = None,
        commits_with: str | dict[str, str] | None = None,
        records_pair: bool = False,
        load_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """The table at ``path``.

        Args:
            path: the table's folder, e.g. ``data/04_feature/feature_store`` or
                ``s3://bucket/gold/feature_store``.
            partition_column: the datetime column (first days of months) partitioned on,
                stored as a Delta ``date``.
            order_by: columns that order rows within a month, on save and load
                (default: ``key`` or ``encounter_id``).
            key: set for stores that grow: a save MERGEs its rows in, replacing the rows
                with the same (``partition_column``, ``key``); unset: a save replaces the
                table.
            commits_with: the partner store that commits together with this one, as
                ``{path: <its folder>}`` (a ``path`` key, so Kedro makes it absolute).
            records_pair: this store commits second and names its partner's version.
            load_args: ``columns``: load only these columns.
            credentials: s3fs-style ``key``/``secret``/``client_kwargs`` (endpoint, region);
                without them, the environment's (the task role).
            fs_args: arguments of the fsspec filesystem the Dask engine's workers write with.
            metadata: free-form, for kedro-viz and hooks; ignored by the dataset.
        """
        if isinstance(commits_with, dict):
            commits_with = commits_with["path"]
        self._path = str(path).rstrip("/")
        self._partition_column = partition_column
        self._key = key
        self._order_by = list(order_by or [key or "encounter_id"])
        self._partner = commits_with
        self._records_pair = records_pair
        self._load_args = deepcopy(load_args or {})
        self._credentials = deepcopy(credentials or {})
        self._fs_args = deepcopy(fs_args or {})
        self._options = storage_options(self._path, self._credentials, self._fs_args)
        self._pinned_for_run = False
        self.metadata = metadata

    # ----------------------------------------------------------------- identity and pins
    @property
    def shown_path(self) -> str:
        return self._path

    @property
    def _identity(self) -> str:
        return table_identity(self._path)

    @property
    def _pair(self) -> frozenset[str]:
        partner = [table_identity(self._partner)] if self._partner else []
        return frozenset({self._identity, *partner})

    def _partner_store(self) -> DeltaTableStore:
        return DeltaTableStore(
            path=self._partner,
            partition_column=self._partition_column,
            key=self._key,
            commits_with=self._path,
            records_pair=not self._records_pair,
            credentials=self._credentials,
            fs_args=self._fs_args,
        )

    @property
    def _fs_credentials(self) -> dict[str, Any]:
        """fsspec arguments for the few files read beside delta-rs (commit records)."""
        return {**self._fs_args, **self._credentials}

    def pin_for_run(self) -> None:
        """Every load of the run reads the versions its first load of the pair read."""
        self._pinned_for_run = True

    def unpin(self) -> None:
        self._pinned_for_run = False

    def _table(self, version: int | None = None):
        table = open_table(self._path, self._options, version)
        if table is None:
            refuse_old_layout(self._path, self._fs_credentials)
        return table

    def _latest_versions(self) -> dict[str, int | None]:
        """Of this store (and its partner): the newest version of the record store, and
        the partner's version its last commit names."""
        if self._partner is None:
            table = self._table()
            return {self._identity: None if table is None else table.version()}
        record, other = (
            (self, self._partner_store())
            if self._records_pair
            else (self._partner_store(), self)
        )
        table = record._table()
        if table is None:
            return {record._identity: None, other._identity: None}
        version = table.version()
        record_entry = commit_record(record._path, record._fs_credentials, version)
        named = record_entry.get("pair", {}).get("version")
        if named is None:  # a table not written by a pair save: the partner's newest
            partner_table = other._table()
            named = None if partner_table is None else partner_table.version()
        return {record._identity: version, other._identity: named}

    def versions(self) -> dict[str, int | None]:
        """The versions this store's pair is read at (pinned for the run when asked)."""
        pinned = table_pairs.pinned(self._pair) if self._pinned_for_run else None
        if pinned is not None:
            return pinned
        with table_errors_named(self._path, "reading the log of"):
            versions = self._latest_versions()
        if self._pinned_for_run:
            table_pairs.pin(self._pair, versions)
        return versions

    def version(self) -> int | None:
        """The version of this table that loads read (None: never written)."""
        return self.versions()[self._identity]

    # ------------------------------------------------------------------------ loading
    def load(self) -> pd.DataFrame:
        version = self.version()
        if version is None:
            writer = "data_processing" if self._key is None else "inference"
            raise DatasetError(
                f"No data at {self._path}: the table has never been written. Run "
                f"`kedro run --pipelines {writer}` first."
            )
        with self.reading(version) as table:
            columns = self._load_args.get("columns")
            frame = to_frame(
                read_arrow(table, columns), self._partition_column, self._order_by
            )
            frame.attrs = commit_record(self._path, self._fs_credentials, version).get(
                "attrs", {}
            )
        return frame

    @contextmanager
    def reading(self, version: int) -> Iterator[Any]:
        """The table at ``version``; a data file that is damaged or gone is named."""
        rebuild = (
            "re-create the store with `kedro run --pipelines data_processing`"
            if self._key is None
            else "score again with `kedro run --pipelines inference --params "
            "inference.rescore=true`"
        )
        with table_errors_named(self._path, "loading"):
            try:
                yield self._table(version)
            except pa.ArrowInvalid as exc:
                raise DatasetError(
                    f"The data file {self._named_file(exc)} of version {version} is not a "
                    f"readable parquet file: it is corrupt or truncated; {rebuild}."
                ) from exc
            except FileNotFoundError as exc:
                if "bucket" in str(exc).lower():
                    raise
                raise DatasetError(
                    f"The data file {self._named_file(exc)} that version {version} names "
                    f"is missing: the table was changed outside its transaction log (a "
                    f"file deleted by hand, or a vacuum with too short a retention); "
                    f"{rebuild}."
                ) from exc

    def _named_file(self, error: Exception) -> str:
        """The data file a delta-rs / Arrow error is about, as the user wrote the path."""
        found = re.search(
            rf"{re.escape(self._partition_column)}=[^/'\s]+/[^'\s]+\.parquet",
            str(error),
        )
        return f"{self._path}/{found[0]}" if found else f"of {self._path}"

    def _exists(self) -> bool:
        return self.version() is not None

    def _describe(self) -> dict[str, Any]:
        return {
            "path": self._path,
            "partition_column": self._partition_column,
            "key": self._key,
            "commits_with": self._partner,
            "records_pair": self._records_pair,
            "load_args": self._load_args,
        }

    # ------------------------------------------------------------------------- saving
    def save(self, data: pd.DataFrame) -> None:
        if self._partition_column not in data.columns:
            raise DatasetError(
                f"Cannot save to {self._path}: the data has no '{self._partition_column}' "
                f"column to partition by."
            )
        if self._partner is None:
            self._commit(data)
            return
        partner = table_pairs.take_staged(self._pair, table_identity(self._partner))
        if partner is None:
            table_pairs.stage(self._pair, self._identity, self, data)
            logger.info(
                "%s: validated, commits with %s once that is saved",
                self._path,
                self._partner,
            )
            return
        partner_store, partner_data = partner
        first, second = (
            ((partner_store, partner_data), (self, data))
            if self._records_pair
            else ((self, data), (partner_store, partner_data))
        )
        self._commit_pair(first, second)

    def _commit_pair(self, first, second) -> None:
        (first_store, first_data), (record_store, record_data) = first, second
        first_version = first_store._commit(first_data)
        if first_version is None:
            return  # nothing new (an empty merge): the record store has nothing new either
        latest = first_store._table().version()
        if record_store._key is None and latest != first_version:
            logger.warning(
                "%s was replaced by another run (version %d) after this run's version %d: "
                "that run's pair is the current one, so this run does not commit %s.",
                first_store._path,
                latest,
                first_version,
                record_store._path,
            )
            return
        # A growing store's newest version holds this run's rows and any concurrent run's.
        record_version = record_store._commit(record_data, pair_version=latest)
        if self._pinned_for_run or record_store._pinned_for_run:
            table_pairs.pin(
                self._pair,
                {first_store._identity: latest, record_store._identity: record_version},
            )

    def _commit(self, data: Any, pair_version: int | None = None) -> int | None:
        """Commit ``data`` as one version of this table; returns it (None: nothing to do)."""
        record: dict[str, Any] = {"attrs": _attrs(data), "token": uuid.uuid4().hex}
        if pair_version is not None:
            record["pair"] = {"path": self._partner, "version": pair_version}
        properties = CommitProperties(
            custom_metadata={COMMIT_KEY: json.dumps(record, default=str)}
        )
        started = time.perf_counter()
        with table_errors_named(self._path, "saving"):
            self._table()  # refuses a store of the old layout
            if self._key is None:
                version = save_as_new_version(self, data, properties)
            else:
                if is_dask_frame(data):
                    data = data.compute()
                if data.empty:
                    logger.info("Nothing new to save to %s: no commit", self._path)
                    return None
                version = merge_into_table(
                    self._path,
                    to_arrow(data, self._partition_column, self._order_by),
                    (self._partition_column, self._key),
                    self._options,
                    properties,
                )
        rows = None if is_dask_frame(data) else len(data)
        self._log_commit("Merged" if self._key else "Saved", version, started, rows)
        return version

    def _log_commit(
        self, verb: str, version: int, started: float, rows: int | None = None
    ) -> None:
        logger.info(
            "%s %s rows to %s (version %d, %.2f s)",
            verb,
            "the" if rows is None else f"{rows:,}",
            self._path,
            version,
            time.perf_counter() - started,
        )


def _attrs(data: Any) -> dict[str, Any]:
    """Store-level metadata handed over in ``DataFrame.attrs`` (on a Dask frame: its meta's)."""
    attrs = data._meta.attrs if is_dask_frame(data) else data.attrs
    return json.loads(json.dumps(attrs, default=str))
