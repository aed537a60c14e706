"""Opening, reading and committing Delta Lake tables (delta-rs, the ``deltalake`` package) on
local disk and S3, with the errors a user can act on.

The gold feature and label stores and the scored stores are Delta tables: the transaction
log (``_delta_log/``) decides which parquet files make up each version, so DuckDB
(``delta_scan``), Polars, Spark, Athena and pandas (through ``deltalake``) read the same
rows the project reads, and an unfinished write is never a version anyone sees.

**S3.** delta-rs talks to S3 itself (object_store, not s3fs): the endpoint, region and
credentials come from the catalog's ``credentials`` (s3fs style: ``key``, ``secret``,
``client_kwargs.endpoint_url`` / ``region_name``) or from the environment (the task role,
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` for an S3-compatible server). Concurrent
commits use S3's conditional PUT (``If-None-Match``): no DynamoDB lock table is needed.

**Forks.** delta-rs's runtime panics in a *forked* child of a process that already used it:
worker processes that open tables must be spawned (Dask's nanny and loky do so).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError
from kedro.io.core import DatasetError, get_protocol_and_path

from diab_readmit.datasets.storage_errors import storage_errors_named

#: The key of the project's record in a commit's ``commitInfo`` (custom metadata).
COMMIT_KEY = "diab_readmit"
#: Table properties set when a table is created. Old versions stay readable (time travel)
#: for as long as their log entries exist, and a registered model names the gold versions it
#: was trained on: the log is never trimmed automatically; data files of old versions go
#: only through ``storage_cleanup --vacuum``, which keeps every version a model names.
TABLE_CONFIGURATION = {
    "delta.logRetentionDuration": "interval 36500 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
    # A checkpoint every 10 commits: opening a table replays at most 10 JSON commits, so a
    # store that grows by one MERGE a month opens as fast in year 5 as in month 2.
    "delta.checkpointInterval": "10",
}
#: Files of the pre-Delta layout (our own commit protocol, before issue 24).
_OLD_LAYOUT = ("_commits", "_manifest.json")


def storage_options(
    path: str,
    credentials: dict[str, Any] | None = None,
    fs_args: dict[str, Any] | None = None,
) -> dict[str, str]:
    """delta-rs ``storage_options`` for ``path``: none on local disk; on S3 the endpoint,
    region and keys of the catalog's s3fs-style ``credentials`` / ``fs_args``
    (``key``, ``secret``, ``client_kwargs``) or else of the environment."""
    if get_protocol_and_path(path)[0] != "s3":
        return {}
    credentials = {**(fs_args or {}), **(credentials or {})}
    client = credentials.get("client_kwargs") or {}
    options = {
        "AWS_ACCESS_KEY_ID": credentials.get("key"),
        "AWS_SECRET_ACCESS_KEY": credentials.get("secret"),
        "AWS_SESSION_TOKEN": credentials.get("token"),
        "AWS_ENDPOINT_URL": client.get("endpoint_url")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL"),
        "AWS_REGION": client.get("region_name")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION"),
    }
    if (options["AWS_ENDPOINT_URL"] or "").startswith("http://"):
        options["AWS_ALLOW_HTTP"] = (
            "true"  # an S3-compatible server on a private network
        )
    return {key: str(value) for key, value in options.items() if value}


def _as_os_error(error: Exception) -> Exception:
    """delta-rs reports S3 failures as text; the ones a user fixes become the OSErrors
    ``storage_errors_named`` names (with the bucket and what to check)."""
    text = str(error)
    if re.search(r"NoSuchBucket|bucket does not exist", text):
        return FileNotFoundError("The specified bucket does not exist")
    if re.search(r"AccessDenied|Forbidden|\b403\b", text):
        return PermissionError("Forbidden")
    return error


@contextmanager
def table_errors_named(path: str, action: str) -> Iterator[None]:
    """Access denied and missing buckets of ``action`` on the table at ``path``, named."""
    with storage_errors_named(path, action):
        try:
            yield
        except (DeltaError, OSError) as exc:
            converted = _as_os_error(exc)
            if converted is exc:
                raise
            raise converted from exc


def refuse_old_layout(path: str, credentials: dict[str, Any] | None) -> None:
    """Where no Delta table is: a store written before the stores became Delta tables is
    refused with what to do (rather than read as "never written")."""
    protocol, stripped = get_protocol_and_path(path)
    fs = fsspec.filesystem(protocol, **(credentials or {}))
    root = stripped.rstrip("/")
    found = [name for name in _OLD_LAYOUT if fs.exists(f"{root}/{name}")]
    if found:
        raise DatasetError(
            f"{path} is a store in the old layout ({', '.join(found)}; before Delta Lake): "
            f"convert it in place with `python -m diab_readmit.storage_convert` (add "
            f"`--env aws` on S3), or "
            f"move it away and rebuild it (`kedro run --pipelines data_processing` for the "
            f"gold stores, `kedro run --pipelines inference --params inference.rescore=true` "
            f"for the scored ones)."
        )


def open_table(
    path: str, options: dict[str, str], version: int | None = None
) -> DeltaTable | None:
    """The table at ``path`` (at ``version``), or None when no table was ever written there."""
    try:
        return DeltaTable(path, version=version, storage_options=options)
    except TableNotFoundError:
        return None


def commit_record(
    path: str, credentials: dict[str, Any] | None, version: int
) -> dict[str, Any]:
    """The project's record (``COMMIT_KEY``) in the commit that made ``version``: read from
    that commit's log file, one GET (``DeltaTable.history`` reads the log from the newest
    version down, and holds the GIL while it does)."""
    protocol, stripped = get_protocol_and_path(path)
    fs = fsspec.filesystem(protocol, **(credentials or {}))
    try:
        content = fs.cat_file(f"{stripped.rstrip('/')}/_delta_log/{version:020d}.json")
    except FileNotFoundError:
        return {}
    for line in content.decode().splitlines():
        action = json.loads(line) if line.strip() else {}
        text = action.get("commitInfo", {}).get(COMMIT_KEY)
        if text:
            return json.loads(text)
    return {}


def read_arrow(
    table: DeltaTable,
    columns: list[str] | None = None,
    partitions: list[tuple[str, str, Any]] | None = None,
) -> pa.Table:
    """The rows of ``table`` (only ``columns``, only the ``partitions`` filter), read by
    delta-rs from exactly the files of the table's version."""
    return table.to_pyarrow_table(columns=columns, partitions=partitions)
