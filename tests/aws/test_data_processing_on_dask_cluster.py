"""`DIAB_ENGINE=dask DASK_SCHEDULER_ADDRESS=... kedro run --env aws --pipelines data_processing`
against a Dask cluster of separate processes and S3 on 127.0.0.1: what the
``diab_data_processing`` DAG does on Fargate, with processes in place of ECS tasks.

A ``dask scheduler`` and a ``dask worker`` process (two worker processes) are started with
the arguments the DAG gives its ECS tasks (``diab_dask_cluster.scheduler_command`` /
``worker_command``) and the environment the Dask task definition and its task role give them:
``DASK_DATAFRAME__CONVERT_STRING=False``, and S3 access (here the loopback endpoint and fake
keys; on Fargate the task role) — the workers write the gold stores' month files
themselves. The run connects to that cluster, leaves it running, and its gold stores equal
those of a pandas-engine run on the same raw file.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client
from pandas.testing import assert_frame_equal

from diab_readmit.datasets.delta_store import store_pair
from diab_readmit.datasets.delta_views import DeltaTableIndex
from diab_readmit.ecs_stages import DASK_TASK
from diab_readmit.pipelines.synthetic.nodes import generate_encounters
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams
from tests.aws.loopback_aws import REGION, loopback_aws
from tests.aws.test_kedro_on_s3 import run_on_s3
from tests.conftest import PROJECT, make_scratch_project

pytestmark = pytest.mark.slow

DASK = Path(sys.executable).with_name("dask")
DASK_DATAMART = "diab-dask-cluster-datamart"
PANDAS_DATAMART = "diab-dask-cluster-pandas-datamart"
REGISTRY = "diab-dask-cluster-registry"
WORKER_PROCESSES = 2

_spec = importlib.util.spec_from_file_location(
    "diab_dask_cluster", PROJECT / "airflow" / "dags" / "diab_dask_cluster.py"
)
cluster_module = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("diab_dask_cluster", cluster_module)
_spec.loader.exec_module(cluster_module)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen, log: Path) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    print(f"--- {log.name} ---\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    logs = tmp_path_factory.mktemp("dask-logs")
    raw = tmp_path_factory.mktemp("raw") / "diabetic_data.csv"
    # scrambled ids: unreliable order segments, the hardest case for the shuffle
    generate_encounters(
        SyntheticParams(n_encounters=4000, seed=3, scrambled_share=0.1)
    ).to_csv(raw, index=False)
    project = make_scratch_project(tmp_path_factory.mktemp("aws-run") / "project")
    with loopback_aws(tmp_path_factory.mktemp("aws-config")) as aws:
        aws.create_buckets(DASK_DATAMART, PANDAS_DATAMART, REGISTRY)
        for bucket in (DASK_DATAMART, PANDAS_DATAMART):
            aws.client("s3").upload_file(str(raw), bucket, "raw/diabetic_data.csv")

        # What deploy/ecs/diab-readmit-demo-dask.json and the task role give a Fargate task.
        task_environment = {
            **aws.environment(),
            "DASK_DATAFRAME__CONVERT_STRING": "False",
        }
        port = _free_port()
        address = f"tcp://127.0.0.1:{port}"
        spec = cluster_module.FargateDaskCluster(
            cluster="loopback",
            task_definition=DASK_TASK,
            container="diab-readmit",
            network_configuration={},
            worker_threads=1,
            worker_memory_limit="1.5GiB",
            idle_timeout="10 minutes",
            death_timeout="30s",
        )
        scheduler_args = cluster_module.scheduler_command(spec)
        scheduler_args[scheduler_args.index("--port") + 1] = str(port)
        worker_args = cluster_module.worker_command(spec, address)
        worker_args[worker_args.index("--nworkers") + 1] = str(WORKER_PROCESSES)
        processes = []
        try:
            for name, args in (
                ("scheduler", [*scheduler_args, "--host", "127.0.0.1"]),
                ("worker", [*worker_args, "--host", "127.0.0.1"]),
            ):
                log = logs / f"{name}.log"
                with log.open("w") as sink:
                    process = subprocess.Popen(
                        [str(DASK), *args],
                        env=task_environment,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                    )
                processes.append((process, log))
                if name == "scheduler":
                    _wait_for_port(port, process, log)
            with Client(address, timeout=60) as client:
                client.wait_for_workers(WORKER_PROCESSES, timeout=120)

            started = time.monotonic()
            dask_output = run_on_s3(
                project,
                aws,
                "--pipelines",
                "data_processing",
                "--params",
                "engine.partitions=4",
                datamart=DASK_DATAMART,
                registry=REGISTRY,
                extra_environment={
                    "DIAB_ENGINE": "dask",
                    "DASK_SCHEDULER_ADDRESS": address,
                },
            )
            dask_seconds = time.monotonic() - started
            with Client(address, timeout=60) as client:
                after = {
                    "workers": len(client.scheduler_info(n_workers=-1)["workers"]),
                    "prefixes": client.run_on_scheduler(
                        lambda dask_scheduler: sorted(dask_scheduler.task_prefixes)
                    ),
                }
        finally:
            for process, log in reversed(processes):
                _stop(process, log)

        started = time.monotonic()
        run_on_s3(
            project,
            aws,
            "--pipelines",
            "data_processing",
            datamart=PANDAS_DATAMART,
            registry=REGISTRY,
            extra_environment={"DIAB_ENGINE": "pandas", "DASK_SCHEDULER_ADDRESS": ""},
        )
        pandas_seconds = time.monotonic() - started
        print(
            f"data_processing on 4000 encounters: {dask_seconds:.1f} s on the external "
            f"cluster, {pandas_seconds:.1f} s on pandas"
        )
        gold = {
            bucket: _load_gold(aws.endpoint, bucket)
            for bucket in (DASK_DATAMART, PANDAS_DATAMART)
        }
        keys = aws.keys(DASK_DATAMART)
    return {
        "output": dask_output,
        "address": address,
        "after": after,
        "gold": gold,
        "keys": keys,
        "project": project,
    }


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dask scheduler exited:\n{log.read_text()[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"dask scheduler not listening:\n{log.read_text()[-3000:]}")


def _load_gold(endpoint: str, bucket: str):
    options = {
        "credentials": {"key": "testing", "secret": "testing"},
        "fs_args": {"client_kwargs": {"endpoint_url": endpoint, "region_name": REGION}},
    }
    features, labels = store_pair(
        f"s3://{bucket}/gold/feature_store",
        f"s3://{bucket}/gold/label_store",
        **options,
    )
    index = DeltaTableIndex(path=f"s3://{bucket}/gold/feature_store", **options)
    return features.load(), labels.load(), index.load()


def test_the_run_uses_the_named_cluster_and_leaves_it_running(runs):
    assert (
        f"Dask engine: connected to the cluster at {runs['address']}"
        in (runs["output"])
    )
    assert "started a LocalCluster" not in runs["output"]
    # the cluster outlived the run, with its workers, and computed the run's graph: the
    # patient shuffle, the features per patient partition, and the month files written
    # to S3 by the workers (with the S3 access the task role gives them on Fargate)
    assert runs["after"]["workers"] == WORKER_PROCESSES
    expected = {"p2pshuffle", "features_of_patients", "write_month_files"}
    assert expected <= set(runs["after"]["prefixes"]), runs["after"]


def test_gold_stores_land_in_the_datamart_and_equal_the_pandas_runs(runs):
    on_dask, on_pandas = runs["gold"][DASK_DATAMART], runs["gold"][PANDAS_DATAMART]
    for store in ("feature_store", "label_store"):
        # one Delta commit each (the label store's names the feature store's version)
        assert f"gold/{store}/_delta_log/00000000000000000000.json" in runs["keys"]
        assert f"gold/{store}/_delta_log/00000000000000000001.json" not in runs["keys"]
    for dask_frame, pandas_frame in zip(on_dask[:2], on_pandas[:2], strict=True):
        assert len(pandas_frame) > 3000
        assert_frame_equal(dask_frame, pandas_frame, check_exact=True)
    # the same audit and the same raw file (read from each run's own datamart)
    dask_attrs, pandas_attrs = dict(on_dask[2]["attrs"]), dict(on_pandas[2]["attrs"])
    dask_source, pandas_source = (
        dask_attrs.pop("raw_source"),
        pandas_attrs.pop("raw_source"),
    )
    assert dask_attrs == pandas_attrs
    assert dask_source["sha256"] == pandas_source["sha256"]
    assert dask_source["path"].endswith("/raw/diabetic_data.csv")
    assert [(p["partition"], p["rows"]) for p in on_dask[2]["partitions"]] == [
        (p["partition"], p["rows"]) for p in on_pandas[2]["partitions"]
    ]


def test_nothing_was_written_to_the_projects_local_data(runs):
    data = runs["project"].path / "data"
    assert [p for p in data.rglob("*") if p.is_file()] == []
