"""Read-only, lazy lookup of gold feature-store rows: only the columns and months asked for.

The champion gate rescores the current champion on the challenger's test encounters with
the champion's own scaler, which takes gold rows. Loading the whole store in every training
run would cost a million-encounter task ~1 GB for a comparison that usually needs one
window, so this dataset hands the node a :class:`GoldRows` object that reads the current
commit (the same commit rule as :class:`~diab_readmit.datasets.gold_store.PartitionedParquetStore`)
only when asked, and only what is asked. A store that was never written loads as ``None``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pyarrow as pa
from kedro.io.core import DatasetError

from diab_readmit.datasets.gold_store import PartitionedParquetStore
from diab_readmit.datasets.storage_errors import storage_errors_named


class GoldRows:
    """The current commit of a gold store, read on demand."""

    def __init__(self, store: PartitionedParquetStore, manifest: dict[str, Any]):
        self._store = store
        self._manifest = manifest

    @property
    def columns(self) -> list[str]:
        return list(self._manifest.get("columns", []))

    def read(
        self,
        columns: list[str],
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pd.DataFrame:
        """``columns`` of the rows in the monthly partitions from ``start`` to ``end``."""
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise KeyError(missing)
        selected = [
            partition
            for partition in self._manifest["partitions"]
            if (
                start is None or _month(partition) >= pd.Timestamp(start).replace(day=1)
            )
            and (end is None or _month(partition) <= pd.Timestamp(end))
        ]
        with storage_errors_named(self._store._path, "loading"):
            tables = [self._store._read_partition(p, columns) for p in selected]
        if not tables:
            return pd.DataFrame(columns=columns)
        return pa.concat_tables(tables).to_pandas()


def _month(partition: dict[str, Any]) -> pd.Timestamp:
    return pd.Timestamp(partition["partition"].split("=", 1)[1])


class GoldRowsLookupDataset(PartitionedParquetStore):
    """A gold store as a :class:`GoldRows` lookup (``None`` when it was never written).

    Example (conf/base/catalog_training.yml)::

        "feature_store@lookup":
          type: diab_readmit.datasets.gold_lookup.GoldRowsLookupDataset
          path: data/04_feature/feature_store
          commits_with: {path: data/04_feature/label_store}
    """

    def load(self) -> GoldRows | None:  # type: ignore[override]
        with storage_errors_named(self._path, "reading the manifest of"):
            manifest = self.read_manifest()
        return None if manifest is None else GoldRows(self, manifest)

    def save(self, data: Any) -> None:
        raise DatasetError(
            f"{type(self).__name__} ({self._path}) is read-only; save to the store itself."
        )

    def _exists(self) -> bool:
        return True  # a store never written is a valid answer (None)
