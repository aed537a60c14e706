"""The Delta tables read as an analyst reads them, without the project's code: deltalake,
DuckDB's ``delta_scan`` and Polars, on local disk or on the loopback S3 server.

Each reader returns the table's latest version as a pandas DataFrame in (partition_date,
encounter_id) order, so tests compare it row by row with what the project loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
from deltalake import DeltaTable

#: DuckDB's extensions come from PyPI (duckdb-ext-*), not from a download at run time.
DUCKDB_EXTENSIONS = next(
    Path(p) / "duckdb_ext" / "extensions"
    for p in __import__("sys").path
    if (Path(p) / "duckdb_ext" / "extensions").is_dir()
)


def s3_options(endpoint: str, region: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_ALLOW_HTTP": "true",
    }


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(partition_date=pd.to_datetime(frame["partition_date"]))
    keys = [c for c in ("partition_date", "encounter_id") if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def read_deltalake(uri: str, options: dict[str, str] | None = None) -> pd.DataFrame:
    return _ordered(DeltaTable(uri, storage_options=options or {}).to_pandas())


def read_polars(uri: str, options: dict[str, str] | None = None) -> pd.DataFrame:
    return _ordered(pl.read_delta(uri, storage_options=options or None).to_pandas())


def duckdb_connection(options: dict[str, str] | None = None) -> Any:
    connection = duckdb.connect(config={"extension_directory": str(DUCKDB_EXTENSIONS)})
    for extension in ("httpfs", "aws", "delta"):
        connection.execute(f"LOAD {extension}")
    if options:
        host = options["AWS_ENDPOINT_URL"].removeprefix("http://")
        connection.execute(
            "CREATE SECRET (TYPE S3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, "
            "URL_STYLE 'path', USE_SSL false)",
            [
                options["AWS_ACCESS_KEY_ID"],
                options["AWS_SECRET_ACCESS_KEY"],
                options["AWS_REGION"],
                host,
            ],
        )
    return connection


def read_duckdb(uri: str, options: dict[str, str] | None = None) -> pd.DataFrame:
    connection = duckdb_connection(options)
    try:
        return _ordered(
            connection.execute("SELECT * FROM delta_scan(?)", [uri]).fetchdf()
        )
    finally:
        connection.close()


READERS = {"deltalake": read_deltalake, "duckdb": read_duckdb, "polars": read_polars}


def assert_engines_read(
    uri: str, expected: pd.DataFrame, options: dict[str, str] | None = None
) -> None:
    """Every engine reads exactly ``expected``'s rows (its key columns and values)."""
    want = _ordered(expected)
    for name, reader in READERS.items():
        got = reader(uri, options)
        assert len(got) == len(want), f"{name} read {len(got)} rows, not {len(want)}"
        assert set(got.columns) == set(want.columns), name
        for column in want.columns:
            left = pd.Series(got[column].to_numpy(), name=column)
            right = pd.Series(want[column].to_numpy(), name=column)
            if column == "partition_date":
                left = pd.to_datetime(left).astype("datetime64[ms]")
                right = pd.to_datetime(right).astype("datetime64[ms]")
            pd.testing.assert_series_equal(
                left.astype(object).where(left.notna(), None),
                right.astype(object).where(right.notna(), None),
                check_names=False,
                obj=f"{name}: {column}",
            )
