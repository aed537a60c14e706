"""Read-only views of a :class:`~diab_readmit.datasets.delta_store.DeltaTableStore`, each at
the version the run pinned, each reading no more than it needs:

- :class:`DeltaTableIndex`: rows per month and the commit's ``attrs``, from the Delta log
  alone (the prerequisite checks never read the data, even on S3);
- :class:`GoldRowsLookupDataset`: a :class:`GoldRows` that reads the columns and months the
  champion gate asks for, when it asks;
- :class:`ScoredExtractsDataset`: which extract was scored by which model version, from
  four columns of the predictions table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pyarrow as pa
from kedro.io.core import DatasetError

from diab_readmit.datasets.delta_access import (
    commit_record,
    read_arrow,
    table_errors_named,
)
from diab_readmit.datasets.delta_frames import to_frame
from diab_readmit.datasets.delta_store import DeltaTableStore


class _ReadOnly(DeltaTableStore):
    def save(self, data: Any) -> None:
        raise DatasetError(
            f"{type(self).__name__} ({self._path}) is read-only; save to the store itself."
        )


class DeltaTableIndex(_ReadOnly):
    """Where a store is, its version, how many rows per month, and the commit's ``attrs``.

    A store never written loads as ``{"exists": False, "partitions": []}`` for the checks to
    report. Takes the store's own arguments (``path``, ``commits_with``, ...).

    Example (conf/base/catalog_preprocessing.yml)::

        "feature_store@index":
          type: diab_readmit.datasets.delta_views.DeltaTableIndex
          path: ${globals:paths.feature_store}
          commits_with: {path: ${globals:paths.label_store}}
    """

    def load(self) -> dict[str, Any]:  # type: ignore[override]
        version = self.version()
        if version is None:
            return {"path": self._path, "exists": False, "rows": 0, "partitions": []}
        with table_errors_named(self._path, "reading the log of"):
            table = self._table(version)
            files = pa.table(table.get_add_actions(flatten=True)).to_pandas()
            attrs = commit_record(self._path, self._fs_credentials, version).get(
                "attrs", {}
            )
        column = f"partition.{self._partition_column}"
        rows = files.groupby(column)["num_records"].sum() if len(files) else {}
        return {
            "path": self._path,
            "exists": True,
            "version": version,
            "rows": int(sum(rows.values) if len(files) else 0),
            "attrs": attrs,
            "partitions": [
                {
                    "partition": f"{self._partition_column}={month:%Y-%m-%d}",
                    "rows": int(count),
                }
                for month, count in sorted(rows.items())
            ]
            if len(files)
            else [],
        }

    def _exists(self) -> bool:
        return True  # a store never written is a valid answer


class GoldRows:
    """A gold store's pinned version, read on demand."""

    def __init__(self, store: DeltaTableStore, version: int, columns: list[str]):
        self._store = store
        self._version = version
        self._columns = columns

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def read(
        self,
        columns: list[str],
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pd.DataFrame:
        """``columns`` of the rows in the monthly partitions from ``start`` to ``end``."""
        missing = [c for c in columns if c not in self._columns]
        if missing:
            raise KeyError(missing)
        month = self._store._partition_column
        filters = []
        if start is not None:
            first = pd.Timestamp(start).replace(day=1)
            filters.append((month, ">=", first.date()))
        if end is not None:
            filters.append((month, "<=", pd.Timestamp(end).date()))
        with self._store.reading(self._version) as table:
            rows = table.to_pyarrow_table(columns=columns, filters=filters or None)
        return to_frame(rows, month, self._store._order_by)[columns]


class GoldRowsLookupDataset(_ReadOnly):
    """A gold store as a :class:`GoldRows` lookup (``None`` when it was never written).

    Example (conf/base/catalog_training.yml)::

        "feature_store@lookup":
          type: diab_readmit.datasets.delta_views.GoldRowsLookupDataset
          path: data/04_feature/feature_store
          commits_with: {path: data/04_feature/label_store}
    """

    def load(self) -> GoldRows | None:  # type: ignore[override]
        version = self.version()
        if version is None:
            return None
        with table_errors_named(self._path, "reading the log of"):
            columns = self._table(version).schema().to_arrow().names
        return GoldRows(self, version, list(columns))

    def _exists(self) -> bool:
        return True  # a store never written is a valid answer (None)


#: The predictions' columns that say what scored an extract.
SCORED_BY = ["extract", "algorithm", "model_version", "scored_at"]


class ScoredExtractsDataset(_ReadOnly):
    """Per extract in the predictions table: the algorithm and model version that scored
    it, its rows and when (the latest scoring); ``{}`` before anything was scored.

    Example (conf/base/catalog_inference.yml)::

        inference.scored_extracts:
          type: diab_readmit.datasets.delta_views.ScoredExtractsDataset
          path: ${globals:paths.predictions}
          key: encounter_id
    """

    def load(self) -> dict[str, dict[str, Any]]:  # type: ignore[override]
        version = self.version()
        if version is None:
            return {}
        with self.reading(version) as table:
            rows = read_arrow(table, SCORED_BY).to_pandas()
        scored = {}
        for extract, group in rows.groupby("extract", sort=True):
            latest = group.sort_values("scored_at").iloc[-1]
            scored[str(extract)] = {
                "algorithm": str(latest["algorithm"]),
                "model_version": str(latest["model_version"]),
                "rows": len(group),
                "scored_at": str(latest["scored_at"]),
            }
        return scored

    def _exists(self) -> bool:
        return True
