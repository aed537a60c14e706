"""Delta commits of Arrow tables: a whole new version, or a MERGE by key that concurrent
writers retry."""

from __future__ import annotations

import logging
import random
import time

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import CommitProperties
from kedro.io.core import DatasetError

from diab_readmit.datasets.delta_access import TABLE_CONFIGURATION, open_table
from diab_readmit.datasets.delta_frames import conformed

logger = logging.getLogger(__name__)

#: Concurrent MERGEs into the same partitions conflict; the loser merges again.
MERGE_ATTEMPTS = 8


def overwrite_table(
    path: str,
    table: pa.Table,
    partition_column: str,
    options: dict[str, str],
    properties: CommitProperties,
) -> int:
    """Commit ``table`` as the new version of the table at ``path`` (created if needed)."""
    write_deltalake(
        path,
        table,
        mode="overwrite",
        partition_by=[partition_column],
        schema_mode="overwrite",
        configuration=TABLE_CONFIGURATION,
        storage_options=options,
        commit_properties=properties,
    )
    return DeltaTable(path, storage_options=options).version()


def merge_into_table(
    path: str,
    table: pa.Table,
    partition_and_key: tuple[str, str],
    options: dict[str, str],
    properties: CommitProperties,
) -> int:
    """MERGE ``table`` in by (partition, key), rewriting only the months it touches (the
    first save creates the table); a commit that loses to a concurrent writer merges again
    on the new version. Returns the version committed."""
    partition, key = partition_and_key
    for attempt in range(MERGE_ATTEMPTS):
        delta = open_table(path, options)
        if delta is None:
            try:
                write_deltalake(
                    path,
                    table,
                    mode="error",
                    partition_by=[partition],
                    configuration=TABLE_CONFIGURATION,
                    storage_options=options,
                    commit_properties=properties,
                )
                return DeltaTable(path, storage_options=options).version()
            except DeltaError as exc:
                if "already exists" not in str(exc):
                    raise
                continue  # created meanwhile by a concurrent scorer: merge into it
        table = conformed(table, delta.schema().to_arrow())
        months = sorted({str(d) for d in pc.unique(table[partition]).to_pylist()})
        in_months = ", ".join(f"'{m}'" for m in months)
        predicate = (
            f"t.{key} = s.{key} AND t.{partition} = s.{partition} AND "
            f"t.{partition} IN ({in_months})"
        )
        try:
            (
                delta.merge(
                    table,
                    predicate=predicate,
                    source_alias="s",
                    target_alias="t",
                    merge_schema=True,
                    commit_properties=properties,
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
            return delta.version()  # the table object moved to its own commit
        except CommitFailedError as exc:
            if attempt == MERGE_ATTEMPTS - 1:
                raise DatasetError(
                    f"Could not merge into {path}: {MERGE_ATTEMPTS} attempts conflicted "
                    f"with concurrent writers ({exc}). Run again."
                ) from exc
            logger.info(
                "A concurrent writer committed to %s first: merging again", path
            )
            time.sleep(random.uniform(0.05, 0.3) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover
