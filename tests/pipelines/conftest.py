"""What the pipelines' Dask-engine tests share: a real in-process LocalCluster."""

from __future__ import annotations

import dask
import pytest
from distributed import Client, LocalCluster


@pytest.fixture(scope="module")
def client():
    """A 2-worker LocalCluster (threads, no dashboard) and its client, for one test module."""
    with dask.config.set({"dataframe.convert-string": False}):
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=False,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as connected,
        ):
            yield connected
