"""A Dask DataFrame saved as one version of a Delta table (``DIAB_ENGINE=dask``).

The workers write the parquet files, one per month of each Dask partition (rows shuffled by
month first), straight into the table's folder with fsspec; this process then commits them
all in one Delta transaction that replaces the table. Until that commit no reader sees the
files, and a run that dies before it leaves only unreferenced files, which
``storage_cleanup --vacuum`` removes. Workers never open the table: only this process uses
delta-rs (whose runtime must not be forked).
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
from deltalake import DeltaTable
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    create_table_with_add_actions,
)
from kedro.io.core import get_protocol_and_path

from diab_readmit.datasets.delta_access import TABLE_CONFIGURATION
from diab_readmit.datasets.delta_frames import to_arrow

_WRITTEN = {
    "path": pd.Series(dtype=object),
    "size": pd.Series(dtype="int64"),
    "month": pd.Series(dtype=object),
    "rows": pd.Series(dtype="int64"),
}


def _write_months(
    part: pd.DataFrame,
    root: str,
    protocol: str,
    storage: dict[str, Any],
    partition_column: str,
    order_by: list[str],
    prefix: str,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """On a worker: one parquet file per month of ``part``, without the partition column
    (Delta keeps it in the log); returns what was written."""
    fs = fsspec.filesystem(protocol, **storage)
    number = (partition_info or {}).get("number", 0)
    written = []
    table = to_arrow(part, partition_column, order_by)
    months = table[partition_column]
    for month in sorted({m for m in months.to_pylist()}):
        rows = table.filter(pa.compute.equal(months, pa.scalar(month, pa.date32())))
        relative = (
            f"{partition_column}={month:%Y-%m-%d}/part-{prefix}-{number:05d}.parquet"
        )
        target = str(PurePosixPath(root, relative))
        if protocol in ("file", "local"):
            fs.makedirs(str(PurePosixPath(target).parent), exist_ok=True)
        with fs.open(target, "wb") as handle:
            pq.write_table(rows.drop_columns([partition_column]), handle)
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


def commit_dask_frame(store, data, properties: CommitProperties) -> int:
    """Write ``data`` (a Dask DataFrame) on the workers and commit it as the new version
    of ``store``'s table; returns the version."""
    column = store._partition_column
    protocol, root = get_protocol_and_path(store._path)
    storage = {**store._credentials, **store._fs_args}
    written = (
        data.shuffle(on=column)
        .map_partitions(
            _write_months,
            root,
            protocol,
            storage,
            column,
            store._order_by,
            uuid.uuid4().hex,
            meta=pd.DataFrame(_WRITTEN),
        )
        .compute()
    )
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
    schema = to_arrow(data._meta, column, store._order_by).schema
    table = store._table()
    if table is None:
        create_table_with_add_actions(
            store._path,
            _delta_schema(schema),
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
            schema=_delta_schema(schema),
            partition_by=[column],
            commit_properties=properties,
        )
    return DeltaTable(store._path, storage_options=store._options).version()


def _delta_schema(schema: pa.Schema):
    from deltalake import Schema  # noqa: PLC0415

    return Schema.from_arrow(schema)
