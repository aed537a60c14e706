"""A Dask cluster of ECS (Fargate) tasks for one DAG run: one scheduler task and N worker
tasks of the ``diab-readmit-demo-dask`` family (the project image, entrypoint ``dask``, the
stage tasks' task role), all started with the run's ``startedBy`` so they are found again
and stopped by it.

Not a DAG: ``diab_data_processing`` imports it. It imports neither Airflow nor the project
and works on any boto3 ECS client, so tests/aws exercise it against moto's ECS directly.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SCHEDULER_PORT = 8786
#: Tag key on every task of a cluster (the same value as its ``startedBy``), for cost reports.
CLUSTER_TAG = "diab-readmit-dask-cluster"
ROLE_TAG = "diab-readmit-dask-role"
#: ECS starts at most 10 tasks per RunTask call and describes at most 100 per call.
_RUN_BATCH = 10
_DESCRIBE_BATCH = 100


class DaskClusterError(RuntimeError):
    """The cluster could not be started; what was started of it has been stopped."""


@dataclass(frozen=True)
class FargateDaskCluster:
    """Where and how big: the ECS cluster, the task family, the network, the workers."""

    cluster: str
    task_definition: str
    #: The task definition's container (command overrides address it by name).
    container: str
    network_configuration: dict[str, Any]
    launch_type: str = "FARGATE"
    workers: int = 2
    #: Per worker task; the family's size (2 vCPU / 8 GB) leaves ~1 GB for the nanny and OS.
    worker_threads: int = 2
    worker_memory_limit: str = "7GiB"
    #: The scheduler holds the task graph only: a smaller task than the workers'.
    scheduler_cpu: str = "1024"
    scheduler_memory: str = "4096"
    #: The cluster stops itself when Airflow cannot: the scheduler exits after this long
    #: without work, and a worker exits this long after it lost its scheduler.
    idle_timeout: str = "1h"
    death_timeout: str = "120s"
    start_timeout_seconds: float = 600
    poll_seconds: float = 10

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 100:
            raise ValueError(
                f"workers={self.workers!r}: a Dask cluster here has 1 to 100 worker tasks; "
                f"set the Airflow Variable diab_dask_workers to a number in that range."
            )


def cluster_tag(dag_id: str, run_id: str) -> str:
    """The ``startedBy`` (and tag value) of one DAG run's scheduler and workers.

    A hash: run ids hold characters ``startedBy`` refuses (``:``, ``+``), and every retry of
    the run's tasks computes the same value.
    """
    digest = hashlib.sha256(f"{dag_id}\n{run_id}".encode()).hexdigest()[:16]
    return f"diab-dask-{digest}"


def scheduler_command(spec: FargateDaskCluster) -> list[str]:
    """Arguments after the ``dask`` entrypoint for the scheduler task."""
    return [
        "scheduler",
        "--port",
        str(SCHEDULER_PORT),
        "--no-dashboard",
        "--idle-timeout",
        spec.idle_timeout,
    ]


def worker_command(spec: FargateDaskCluster, address: str) -> list[str]:
    """Arguments after the ``dask`` entrypoint for one worker task (one worker process)."""
    return [
        "worker",
        address,
        "--nworkers",
        "1",
        "--nthreads",
        str(spec.worker_threads),
        "--memory-limit",
        spec.worker_memory_limit,
        "--death-timeout",
        spec.death_timeout,
        "--no-dashboard",
    ]


def private_ip(task: dict[str, Any]) -> str | None:
    """The private IPv4 address of an awsvpc task from DescribeTasks, or None before ECS
    attached its network interface: the ENI attachment's ``privateIPv4Address``, else the
    container's ``networkInterfaces``."""
    for attachment in task.get("attachments", []):
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                return detail["value"]
    for container in task.get("containers", []):
        for interface in container.get("networkInterfaces", []):
            if interface.get("privateIpv4Address"):
                return interface["privateIpv4Address"]
    return None


def start_cluster(ecs: Any, spec: FargateDaskCluster, tag: str) -> str:
    """Start the scheduler, wait until it runs, start the workers pointed at it, wait until
    they run; the scheduler's address (``tcp://IP:8786``).

    Tasks this tag already has (an earlier attempt of the same run) are stopped first. If
    anything fails, every task of the tag is stopped before the error propagates: a teardown
    task does not run after a failed setup, so nothing else would stop them.
    """
    stopped = stop_cluster(ecs, spec.cluster, tag, reason="restarted by a retry")
    if stopped:
        log.warning("Stopped %d task(s) of an earlier attempt of %s", len(stopped), tag)
    try:
        (scheduler,) = _run(ecs, spec, tag, "scheduler", scheduler_command(spec), 1)
        (running,) = _wait_running(ecs, spec, [scheduler], "scheduler")
        ip = private_ip(running)
        if ip is None:
            raise DaskClusterError(
                f"the scheduler task {scheduler} runs but DescribeTasks shows no private "
                f"IPv4 address; is the task definition's networkMode awsvpc?"
            )
        address = f"tcp://{ip}:{SCHEDULER_PORT}"
        log.info("Dask scheduler %s runs at %s", scheduler, address)
        workers: list[str] = []
        for first in range(0, spec.workers, _RUN_BATCH):
            count = min(_RUN_BATCH, spec.workers - first)
            workers += _run(
                ecs, spec, tag, "worker", worker_command(spec, address), count
            )
        _wait_running(ecs, spec, workers, "worker")
        log.info("%d Dask worker task(s) run: %s", len(workers), ", ".join(workers))
        return address
    except BaseException:
        stopped = stop_cluster(ecs, spec.cluster, tag, reason="cluster start failed")
        log.error(
            "Starting the Dask cluster failed; stopped its %d task(s)", len(stopped)
        )
        raise


def stop_cluster(
    ecs: Any, cluster: str, tag: str, reason: str = "DAG run finished"
) -> list[str]:
    """Stop every task of ``cluster`` started with ``startedBy=tag``; their ARNs."""
    arns = [
        arn
        for page in ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, startedBy=tag, desiredStatus="RUNNING"
        )
        for arn in page["taskArns"]
    ]
    for arn in arns:
        ecs.stop_task(cluster=cluster, task=arn, reason=f"{tag}: {reason}")
    return arns


def _run(
    ecs: Any,
    spec: FargateDaskCluster,
    tag: str,
    role: str,
    command: list[str],
    count: int,
) -> list[str]:
    overrides: dict[str, Any] = {
        "containerOverrides": [{"name": spec.container, "command": command}]
    }
    if role == "scheduler":
        overrides.update(cpu=spec.scheduler_cpu, memory=spec.scheduler_memory)
    response = ecs.run_task(
        cluster=spec.cluster,
        taskDefinition=spec.task_definition,
        launchType=spec.launch_type,
        count=count,
        startedBy=tag,
        tags=[{"key": CLUSTER_TAG, "value": tag}, {"key": ROLE_TAG, "value": role}],
        networkConfiguration=spec.network_configuration,
        overrides=overrides,
    )
    arns = [task["taskArn"] for task in response.get("tasks", [])]
    if response.get("failures") or len(arns) != count:
        raise DaskClusterError(
            f"ECS started {len(arns)} of {count} Dask {role} task(s) of "
            f"{spec.task_definition} on {spec.cluster}: {response.get('failures')}"
        )
    return arns


def _wait_running(
    ecs: Any, spec: FargateDaskCluster, arns: list[str], role: str
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + spec.start_timeout_seconds
    while True:
        tasks = list(_describe(ecs, spec.cluster, arns))
        stopped = [t for t in tasks if t.get("lastStatus") == "STOPPED"]
        if stopped:
            raise DaskClusterError(
                f"Dask {role} task {stopped[0]['taskArn']} stopped before it ran: "
                f"{stopped[0].get('stoppedReason', 'no reason given')}"
            )
        if len(tasks) == len(arns) and all(
            t.get("lastStatus") == "RUNNING" for t in tasks
        ):
            return tasks
        if time.monotonic() > deadline:
            raise DaskClusterError(
                f"{len(arns)} Dask {role} task(s) were not RUNNING after "
                f"{spec.start_timeout_seconds:.0f} s"
            )
        time.sleep(spec.poll_seconds)


def _describe(ecs: Any, cluster: str, arns: list[str]) -> Iterable[dict[str, Any]]:
    for first in range(0, len(arns), _DESCRIBE_BATCH):
        batch = arns[first : first + _DESCRIBE_BATCH]
        yield from ecs.describe_tasks(cluster=cluster, tasks=batch)["tasks"]
