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
import time
import uuid
from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    create_table_with_add_actions,
)
from kedro.io.core import get_protocol_and_path

from diab_readmit.datasets.delta_access import TABLE_CONFIGURATION
from diab_readmit.datasets.delta_frames import month_tables, stored_schema

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
    table = store._table()
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
    else:
        table.create_write_transaction(
            actions,
            mode="overwrite",
            schema=Schema.from_arrow(schema),
            partition_by=[column],
            commit_properties=properties,
        )
    return DeltaTable(store._path, storage_options=store._options).version()
