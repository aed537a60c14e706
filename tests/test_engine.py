"""DIAB_ENGINE and the run's Dask cluster (DaskClusterForRun), with real LocalClusters."""

from __future__ import annotations

import subprocess
import sys

import pytest
from distributed import Client, LocalCluster
from kedro.io import DataCatalog, MemoryDataset

from diab_readmit.engine import (
    DaskClusterForRun,
    EngineParametersError,
    EngineParams,
    UnknownEngineError,
    engine_params,
    selected_engine,
)

QUICK = {
    "workers": 1,
    "threads_per_worker": 1,
    "memory_limit": "1GB",
    "processes": False,
}


def _catalog(engine: dict | None) -> DataCatalog:
    catalog = DataCatalog()
    if engine is not None:
        catalog["params:engine"] = MemoryDataset(engine)
    return catalog


def _run(hook: DaskClusterForRun, catalog: DataCatalog, fail: bool = False):
    """A run's hooks around nothing; the client the run had, and its scheduler's address."""
    hook.before_pipeline_run(run_params={}, pipeline=None, catalog=catalog)
    client = hook._client
    address = client.scheduler.address
    if fail:
        hook.on_pipeline_error(
            error=RuntimeError("x"), run_params={}, pipeline=None, catalog=catalog
        )
    else:
        hook.after_pipeline_run(
            run_params={}, run_result={}, pipeline=None, catalog=catalog
        )
    return client, address


def test_engine_defaults_to_pandas_and_refuses_unknown_names(monkeypatch):
    monkeypatch.delenv("DIAB_ENGINE", raising=False)
    assert selected_engine() == "pandas"
    monkeypatch.setenv("DIAB_ENGINE", " Dask ")
    assert selected_engine() == "dask"
    monkeypatch.setenv("DIAB_ENGINE", "spark")
    with pytest.raises(UnknownEngineError, match=r"DIAB_ENGINE='spark'.*pandas, dask"):
        selected_engine()


def test_pandas_runs_start_nothing(monkeypatch):
    monkeypatch.delenv("DIAB_ENGINE", raising=False)
    hook = DaskClusterForRun()
    hook.before_pipeline_run(run_params={}, pipeline=None, catalog=_catalog(QUICK))
    assert hook._client is None and hook._cluster is None


def test_pandas_runs_do_not_import_dask():
    """The default engine pays nothing: settings and every pipeline load without Dask."""
    code = (
        "import sys; import diab_readmit.settings; "
        "from diab_readmit.pipeline_registry import register_pipelines; "
        "register_pipelines(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "DIAB_ENGINE": "pandas"},
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("fail", [False, True])
def test_dask_runs_start_a_local_cluster_and_close_it(monkeypatch, fail):
    monkeypatch.setenv("DIAB_ENGINE", "dask")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    hook = DaskClusterForRun()
    hook.before_pipeline_run(run_params={}, pipeline=None, catalog=_catalog(QUICK))
    client, cluster = hook._client, hook._cluster
    assert len(client.scheduler_info()["workers"]) == 1
    assert client.submit(sum, [1, 2]).result() == 3
    if fail:
        hook.on_pipeline_error(
            error=RuntimeError("x"), run_params={}, pipeline=None, catalog=None
        )
    else:
        hook.after_pipeline_run(
            run_params={}, run_result={}, pipeline=None, catalog=None
        )
    assert client.status == "closed"
    assert cluster.status.name == "closed"
    assert hook._client is None and hook._cluster is None


def test_dask_runs_use_the_named_scheduler_and_leave_it_running(monkeypatch):
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=None) as existing,
        Client(existing) as ours,
    ):
        monkeypatch.setenv("DIAB_ENGINE", "dask")
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", existing.scheduler_address)
        hook = DaskClusterForRun()
        client, address = _run(hook, _catalog({"workers": 7}), fail=True)
        assert address == existing.scheduler_address
        assert client.status == "closed"
        # The cluster someone else started is still there.
        assert ours.submit(sum, [2, 3]).result() == 5


def test_engine_parameters_are_validated():
    assert engine_params(_catalog(None)).workers == 2
    with pytest.raises(EngineParametersError, match=r"engine.memory_limit: .*'lots'"):
        engine_params(_catalog({"memory_limit": "lots"}))
    with pytest.raises(EngineParametersError, match=r"engine.workers"):
        engine_params(_catalog({"workers": 0}))


def test_patient_partitions_follow_partition_rows_unless_partitions_is_set():
    by_rows = EngineParams(partition_rows=100_000)
    assert by_rows.patient_partitions(1_000_000, blocks=3) == 10
    assert by_rows.patient_partitions(1_000_001, blocks=3) == 11
    assert by_rows.patient_partitions(50_000, blocks=4) == 4  # at least one per block
    assert by_rows.patient_partitions(0, blocks=0) == 1
    assert EngineParams(partitions=7).patient_partitions(10**7, blocks=3) == 7
