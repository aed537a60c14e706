"""A frame saved as one new version of a Delta table: this process (pandas) or the Dask
workers write one parquet file per month straight into the table's folder, then one Delta
transaction adds them all and removes the previous version's files from the table.

Until that commit no reader sees the files, and a run that dies before it leaves only
unreferenced files, which ``storage_cleanup --vacuum`` removes. Writing the files here keeps
memory to one month at a time (delta-rs's own partitioned writer buffered ~7x the frame at
a million encounters), and the pandas and Dask paths write the same files. Dask workers
never open the table: only this process uses delta-rs, whose runtime must not be forked.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    create_table_with_add_actions,
)
from kedro.io.core import DatasetError, get_protocol_and_path

from diab_readmit.datasets.delta_access import (
    COMMIT_KEY,
    TABLE_CONFIGURATION,
    commit_record,
)
from diab_readmit.datasets.delta_frames import month_tables, stored_schema

logger = logging.getLogger(__name__)

#: A commit that loses to a concurrent run's is made again on the new version.
COMMIT_ATTEMPTS = 8

_WRITTEN = {
    "path": pd.Series(dtype=object),
    "size": pd.Series(dtype="int64"),
    "month": pd.Series(dtype=object),
    "rows": pd.Series(dtype="int64"),
}


def write_month_files(
    part: pd.DataFrame,
    where: tuple[str, str, dict[str, Any]],
    schema: pa.Schema,
    partition_column: str,
    order_by: list[str],
    prefix: str,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One parquet file per month of ``part`` under the table's folder (``where``:
    protocol, root, fsspec arguments); returns what was written."""
    protocol, root, storage = where
    fs = fsspec.filesystem(protocol, **storage)
    number = (partition_info or {}).get("number", 0)
    written = []
    for month, rows in month_tables(part, schema, partition_column, order_by):
        relative = (
            f"{partition_column}={month:%Y-%m-%d}/part-{prefix}-{number:05d}.parquet"
        )
        target = str(PurePosixPath(root, relative))
        if protocol in ("file", "local"):
            fs.makedirs(str(PurePosixPath(target).parent), exist_ok=True)
        with fs.open(target, "wb") as handle:
            pq.write_table(rows, handle)
        written.append(
            {
                "path": relative,
                "size": int(fs.size(target)),
                "month": f"{month:%Y-%m-%d}",
                "rows": rows.num_rows,
            }
        )
    return pd.DataFrame(written, columns=list(_WRITTEN)).astype(
        {"size": "int64", "rows": "int64"}
    )


def save_as_new_version(store, data: Any, properties: CommitProperties) -> int:
    """Write ``data`` (a pandas or Dask DataFrame) and commit it as the new version of
    ``store``'s table; returns the version."""
    column = store._partition_column
    protocol, root = get_protocol_and_path(store._path)
    where = (protocol, root.rstrip("/"), store._fs_credentials)
    prefix = uuid.uuid4().hex
    dask = hasattr(data, "map_partitions")
    schema = stored_schema(data._meta if dask else data, column)
    if dask:
        written = (
            data.shuffle(on=column)
            .map_partitions(
                write_month_files,
                where,
                schema,
                column,
                store._order_by,
                prefix,
                meta=pd.DataFrame(_WRITTEN),
            )
            .compute()
        )
    else:
        written = write_month_files(
            data, where, schema, column, store._order_by, prefix
        )
    return _commit_files(store, written, schema, properties)


def _commit_files(
    store, written: pd.DataFrame, schema: pa.Schema, properties: CommitProperties
) -> int:
    column = store._partition_column
    now = int(time.time() * 1000)
    actions = [
        AddAction(
            path=row.path,
            size=int(row.size),
            partition_values={column: row.month},
            modification_time=now,
            data_change=True,
            stats=json.dumps({"numRecords": int(row.rows)}),
        )
        for row in written.sort_values("path").itertuples()
    ]
    for attempt in range(COMMIT_ATTEMPTS):
        table = store._table()
        try:
            if table is None:
                create_table_with_add_actions(
                    store._path,
                    Schema.from_arrow(schema),
                    actions,
                    mode="error",
                    partition_by=[column],
                    configuration=TABLE_CONFIGURATION,
                    storage_options=store._options,
                    commit_properties=properties,
                )
                return _own_version(store, properties)
            table.create_write_transaction(
                actions,
                mode="overwrite",
                schema=Schema.from_arrow(schema),
                partition_by=[column],
                commit_properties=properties,
            )
            return _own_version(store, properties)
        except (CommitFailedError, DeltaError) as exc:
            # Another run committed (or created the table) first: this run's version
            # replaces that one, on the table as it now is (the last writer wins, whole).
            if attempt == COMMIT_ATTEMPTS - 1 or not _lost_a_race(exc):
                raise
            logger.info(
                "%s: another run committed first; committing again", store._path
            )
            time.sleep(random.uniform(0.05, 0.3) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _own_version(store, properties: CommitProperties) -> int:
    """The version this commit made: the newest whose record carries its token (a
    concurrent run may have committed after it already)."""
    token = json.loads(properties.custom_metadata[COMMIT_KEY])["token"]
    newest = DeltaTable(store._path, storage_options=store._options).version()
    for version in range(newest, -1, -1):
        if (
            commit_record(store._path, store._fs_credentials, version).get("token")
            == token
        ):
            return version
    raise DatasetError(f"The commit just made to {store._path} is not in its log.")


def _lost_a_race(error: Exception) -> bool:
    text = str(error).lower()
    return isinstance(error, CommitFailedError) or any(
        words in text for words in ("already exists", "conflict", "concurrent")
    )
