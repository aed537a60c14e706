"""The raw encounters CSV: read as text, never overwritten."""

from __future__ import annotations

import pandas as pd
from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.pandas import CSVDataset


class RawEncountersCSVDataset(CSVDataset):
    """A ``pandas.CSVDataset`` that refuses to replace a file that is already there.

    The raw file is the hospital's extract (or the synthetic demo file made in its place);
    nothing in the project may overwrite it. Loading keeps every value as text so that the
    ``data_processing`` pipeline, not the CSV parser, decides what is valid and says where
    a bad value is.
    """

    def save(self, data: pd.DataFrame) -> None:
        path = get_filepath_str(self._get_save_path(), self._protocol)
        if self._fs.exists(path):
            raise DatasetError(
                f"{path} already exists and raw files are never overwritten. "
                f"Delete or move it first if you really want a new synthetic file."
            )
        super().save(data)
