"""Which engine computes a run: ``DIAB_ENGINE=pandas`` (default, one process) or ``dask``.

The engine is chosen per run by the environment, so the same image and the same ``--env``
serve both: ``DIAB_ENGINE=dask kedro run --pipelines data_processing``. With ``dask``,
Dask's own ``DASK_SCHEDULER_ADDRESS`` names an existing cluster; unset, the run starts a
``LocalCluster`` sized by the ``engine:`` parameters. Nodes ask :func:`selected_engine`
which path to take; what they compute is the same on both.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

from kedro.framework.hooks import hook_impl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from diab_readmit.errors import UserFixableError

logger = logging.getLogger(__name__)

ENGINE_VARIABLE = "DIAB_ENGINE"
#: Dask's own variable (``distributed.Client()`` reads it too): an existing scheduler.
SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
ENGINES = ("pandas", "dask")
Engine = Literal["pandas", "dask"]


class UnknownEngineError(UserFixableError):
    pass


def selected_engine() -> Engine:
    """The engine named by ``DIAB_ENGINE`` (``pandas`` when unset or empty)."""
    value = os.environ.get(ENGINE_VARIABLE, "").strip().lower() or "pandas"
    if value not in ENGINES:
        raise UnknownEngineError(
            f"{ENGINE_VARIABLE}={os.environ[ENGINE_VARIABLE]!r} is not an engine of this "
            f"project. Set it to one of {', '.join(ENGINES)} (or unset it for pandas)."
        )
    return value  # type: ignore[return-value]


def is_dask_frame(data: object) -> bool:
    """Whether ``data`` is a Dask collection (told without importing Dask)."""
    return type(data).__module__.partition(".")[0] == "dask"


class EngineParams(BaseModel):
    """``engine``: the ``LocalCluster`` a Dask run starts when no scheduler is named.

    Ignored with ``DIAB_ENGINE=pandas`` and when ``DASK_SCHEDULER_ADDRESS`` names a cluster
    (its workers are sized where it was started).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    workers: int = Field(2, ge=1, le=256)
    threads_per_worker: int = Field(1, ge=1, le=64)
    #: Per worker, in Dask's notation ("3GB", "3GiB", "auto").
    memory_limit: str = "3GB"
    #: Worker processes (True) or threads of the run's own process (False, for tests).
    processes: bool = True
    #: Patient partitions of the shuffle; 0: enough for ``partition_rows`` encounters each.
    partitions: int = Field(0, ge=0, le=100_000)
    #: Encounters per patient partition when ``partitions`` is 0. A partition's raw rows,
    #: features and their intermediates must fit a worker several times over (the
    #: shuffles buffer while a partition is built): ~0.5 GB per 100,000 encounters.
    partition_rows: int = Field(100_000, ge=1_000, le=10_000_000)

    def patient_partitions(self, encounters: int, blocks: int) -> int:
        """How many patient partitions a shuffle of ``encounters`` read in ``blocks`` makes:
        ``partitions`` when set, else at least one per block and at most
        ``partition_rows`` encounters each."""
        if self.partitions:
            return self.partitions
        return max(blocks, -(-encounters // self.partition_rows), 1)

    @field_validator("memory_limit")
    @classmethod
    def _dask_size(cls, value: str) -> str:
        if value.strip().lower() == "auto":
            return value
        from dask.utils import parse_bytes  # light: dask core, not distributed

        try:
            parse_bytes(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"memory_limit {value!r} is not a size; write it like '3GB' or '2.5GiB'"
            ) from exc
        return value


def engine_params(catalog) -> EngineParams:
    """The run's validated ``engine:`` parameters (defaults when the key is absent)."""
    raw = catalog.load("params:engine") if "params:engine" in catalog else {}
    try:
        return EngineParams.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"engine.{'.'.join(map(str, error['loc']))}: {error['msg']}"
            for error in exc.errors()
        )
        raise EngineParametersError(
            f"parameters engine (conf/<env>/parameters_engine.yml) are invalid: {problems}."
        ) from exc


class EngineParametersError(UserFixableError):
    pass


class DaskClusterForRun:
    """The Dask cluster of a run: connected or started before it, closed after it.

    With ``DIAB_ENGINE=pandas`` (default) it does nothing and imports nothing of Dask. With
    ``dask`` it connects a ``distributed.Client`` to ``DASK_SCHEDULER_ADDRESS`` when set (an
    existing cluster, e.g. on Fargate; it is left running) or else starts a ``LocalCluster``
    sized by the ``engine:`` parameters, and closes both after the run, failed or not.
    Nodes never start or stop a cluster: Dask collections they compute use this client, the
    default one of the process.
    """

    def __init__(self) -> None:
        self._client = None
        self._cluster = None

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if selected_engine() != "dask":
            return
        import dask
        from distributed import Client, LocalCluster

        # pandas' own string dtype, as on the pandas path: the same gold column types.
        dask.config.set({"dataframe.convert-string": False})
        address = os.environ.get(SCHEDULER_VARIABLE, "").strip()
        if address:
            self._client = Client(address)
            logger.info("Dask engine: connected to the cluster at %s", address)
            return
        params = engine_params(catalog)
        self._cluster = LocalCluster(
            n_workers=params.workers,
            threads_per_worker=params.threads_per_worker,
            memory_limit=params.memory_limit,
            processes=params.processes,
            dashboard_address=None,
        )
        self._client = Client(self._cluster)
        logger.info(
            "Dask engine: started a LocalCluster of %d worker(s) x %d thread(s), %s each",
            params.workers,
            params.threads_per_worker,
            params.memory_limit,
        )

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self.close()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self.close()

    def close(self) -> None:
        """Close the client, and the cluster if the run started it (never a named one)."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if cluster is not None:
            # Workers first, then the scheduler, then the client: no comm left open to fail.
            cluster.close()
        if client is not None:
            client.close()
