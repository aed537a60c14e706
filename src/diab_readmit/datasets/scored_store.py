"""Stores of scored encounters that grow run by run: the gold store's layout and commit
protocol, with saves that *add* rows instead of replacing the table.

Batch scoring writes ``inference.predictions`` and ``inference.scored_features``. Each save
is one commit of the whole table, exactly as a gold store's (monthly partitions, claim,
marker last, the two stores committing together through ``commits_with``), but the table it
commits is the current commit's rows with the saved rows merged in by ``key``: a row whose
key is saved again is replaced, never duplicated. Saving an empty frame commits nothing.

The manifest's ``attrs`` are merged the same way, one level deep: ``attrs["scored_extracts"]``
of the saved frame updates the store's record of which extract was scored by which model.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from kedro.io.core import DatasetError

from diab_readmit.datasets.gold_store import PartitionedParquetStore
from diab_readmit.datasets.storage_errors import storage_errors_named

logger = logging.getLogger(__name__)


class ScoredEncountersStore(PartitionedParquetStore):
    """A monthly-partitioned parquet store whose saves upsert rows by ``key``.

    Example (conf/base/catalog_inference.yml)::

        inference.predictions:
          type: diab_readmit.datasets.scored_store.ScoredEncountersStore
          path: data/07_model_output/predictions
          key: encounter_id
          commits_with: {path: data/04_feature/scored_feature_store}

    Args:
        key: the column identifying a row; saved rows replace stored rows with the same key.
        path, partition_column, commits_with, load_args, credentials, fs_args, metadata: as
            for :class:`~diab_readmit.datasets.gold_store.PartitionedParquetStore`.
    """

    def __init__(self, *, key: str = "encounter_id", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = key

    def load(self) -> pd.DataFrame:
        if self.read_manifest() is None:  # the gold stores' advice would be wrong here
            raise DatasetError(
                f"Nothing scored yet: no data at {self._path}. Run `kedro run --pipelines "
                f"inference` first: it scores the extracts in the new encounters folder "
                f"(paths.new_encounters)."
            )
        return super().load()

    def save(self, data: pd.DataFrame) -> None:
        if data.empty:
            logger.info("Nothing new to save to %s: no commit", self._path)
            return
        with storage_errors_named(self._path, "saving"):
            stored = self._current_rows()
            if stored is None:
                merged = data.reset_index(drop=True)
                attrs = dict(data.attrs)
            else:
                kept = stored[~stored[self._key].isin(data[self._key])]
                merged = pd.concat([kept, data], ignore_index=True)
                attrs = _merged_attrs(stored.attrs, data.attrs)
            merged = merged.sort_values(
                [self._partition_column, self._key], kind="stable"
            ).reset_index(drop=True)
            merged.attrs = attrs
            self._save_partitions(merged)

    def _current_rows(self) -> pd.DataFrame | None:
        if self.read_manifest() is None:
            return None
        return self._load_partitions()

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "key": self._key}


def _merged_attrs(stored: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    merged = dict(stored)
    for name, value in saved.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged
