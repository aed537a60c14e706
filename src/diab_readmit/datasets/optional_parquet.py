"""A parquet file that may not exist yet: ``load`` returns None instead of failing."""

from __future__ import annotations

import pandas as pd
from kedro_datasets.pandas import ParquetDataset


class OptionalParquetDataset(ParquetDataset):
    """``pandas.ParquetDataset`` whose ``load`` is None while the file is absent.

    For outputs of one pipeline that another reads when they are there: the report reads
    each algorithm's evaluation predictions, which exist only once that algorithm trained.

    Example catalog entry::

        "{algorithm}.evaluation_predictions":
          type: diab_readmit.datasets.optional_parquet.OptionalParquetDataset
          filepath: data/08_reporting/evaluation_predictions/{algorithm}.parquet
    """

    def load(self) -> pd.DataFrame | None:
        if not self._exists():
            return None
        return super().load()
