"""Airflow 3 DAG ``diab_data_processing``: ``data_processing`` with ``DIAB_ENGINE=dask`` on a
Dask cluster of Fargate tasks that lives as long as the run needs it.

    start_dask_cluster (setup)  →  process_data_on_dask (ECS, 2 h)  →  stop_dask_cluster (teardown)

``start_dask_cluster`` (on the Airflow worker, through the ``aws_default`` connection) runs
one scheduler task of the ``diab-readmit-demo-dask`` family (``dask scheduler``, 1 vCPU /
4 GB), waits until it is RUNNING, reads its private IP from DescribeTasks and runs
``diab_dask_workers`` worker tasks of the same family (``dask worker tcp://IP:8786``, one
worker of 2 threads / 7 GiB per 2 vCPU / 8 GB task), waits until they run, and returns the
address as its XCom. Every task it starts has ``startedBy`` (and tag
``diab-readmit-dask-cluster``) = a hash of the DAG id and run id. If any of this fails it
stops what it started before failing.

``process_data_on_dask`` is the usual Kedro ECS task (``kedro run --pipelines data_processing
--env aws`` on ``diab-readmit-demo-pipeline``) with ``DIAB_ENGINE=dask`` and
``DASK_SCHEDULER_ADDRESS`` = that XCom in its environment: the project's run hook connects to
the cluster instead of starting a LocalCluster and leaves it running.

``stop_dask_cluster`` is a teardown: it runs once processing has finished, failed or not
(and when it was cleared or timed out), and stops every task with the run's ``startedBy``.
The DAG run's state is that of the processing, not of the teardown. Should Airflow itself
die, the cluster stops on its own: the scheduler exits after 1 h without work
(``--idle-timeout``) and the workers 120 s after they lost it (``--death-timeout``).

The scheduler and workers run the same image as the stage tasks, so client, scheduler and
workers have the same Dask version and the project's code, and the same task role: the
workers write the gold stores' month files to S3 themselves.

Set the Variable ``diab_dask_scheduler_address`` (e.g. ``tcp://10.0.1.23:8786``) to use a
cluster that already runs instead: then nothing is started and the teardown finds nothing
of this run to stop.

Configuration: the Variables of ``diab_model_training`` (cluster, subnets, security groups,
public IP, launch type, region, buckets), plus

    diab_dask_workers                   2 (worker tasks, 1 to 100)
    diab_dask_scheduler_address         (none: start a cluster for the run)
    diab_ecs_dask_task_definition       diab-readmit-demo-dask
    diab_ecs_pipeline_task_definition   diab-readmit-demo-pipeline (the Kedro client)

The security groups must let the tasks reach each other on every TCP port (a rule
referencing the group itself): the client and the workers reach the scheduler on 8786, the
workers each other on random ports.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.hooks.ecs import EcsHook
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG
from diab_dask_cluster import (
    FargateDaskCluster,
    cluster_tag,
    start_cluster,
    stop_cluster,
)
from diab_ecs import (
    CONTAINER_NAME,
    DEFAULT_ARGS,
    ECS_CLUSTER,
    LAUNCH_TYPE,
    NETWORK_CONFIGURATION,
    ecs_stages,
    ecs_task,
    variable,
)

log = logging.getLogger(__name__)

PIPELINE_TASK_DEFINITION = "diab-readmit-demo-pipeline"
DASK_TASK_DEFINITION = "diab-readmit-demo-dask"
ECS_STAGES = ecs_stages("diab_data_processing_stages.json")
START = "start_dask_cluster"
AWS_CONN_ID = "aws_default"
CLUSTER_SETTINGS = {
    "cluster": ECS_CLUSTER,
    "task_definition": variable("diab_ecs_dask_task_definition", DASK_TASK_DEFINITION),
    "launch_type": LAUNCH_TYPE,
    "network_configuration": NETWORK_CONFIGURATION,
}


def start_dask_cluster(
    cluster: str,
    task_definition: str,
    launch_type: str,
    network_configuration: dict[str, Any],
    workers: Any,
    existing_address: str,
    ti: Any,
) -> str:
    """The scheduler address for the run: ``existing_address`` when set, else that of a
    cluster started now (see the module docstring)."""
    if str(existing_address or "").strip():
        log.info(
            "diab_dask_scheduler_address is set: using the cluster at %s, starting nothing",
            existing_address,
        )
        return str(existing_address).strip()
    try:
        count = int(workers)
    except (TypeError, ValueError):
        raise ValueError(
            f"diab_dask_workers={workers!r} is not a whole number of worker tasks; set "
            f"the Airflow Variable to e.g. 4."
        ) from None
    spec = FargateDaskCluster(
        cluster=cluster,
        task_definition=task_definition,
        container=CONTAINER_NAME,
        network_configuration=network_configuration,
        launch_type=launch_type,
        workers=count,
    )
    ecs = EcsHook(aws_conn_id=AWS_CONN_ID).conn
    return start_cluster(ecs, spec, cluster_tag(ti.dag_id, ti.run_id))


def stop_dask_cluster(cluster: str, ti: Any) -> list[str]:
    """Stop every task this run's ``start_dask_cluster`` started; their ARNs (none when an
    existing cluster was used)."""
    tag = cluster_tag(ti.dag_id, ti.run_id)
    stopped = stop_cluster(EcsHook(aws_conn_id=AWS_CONN_ID).conn, cluster, tag)
    log.info("Stopped %d Dask task(s) started by %s", len(stopped), tag)
    return stopped


with DAG(
    dag_id="diab_data_processing",
    description="data_processing on a Dask cluster of Fargate tasks started for the run",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args=DEFAULT_ARGS,
    tags=["diab_readmit", "data_processing", "dask", "ecs"],
    doc_md=__doc__,
) as dag:
    start = PythonOperator(
        task_id=START,
        python_callable=start_dask_cluster,
        op_kwargs={
            **CLUSTER_SETTINGS,
            "workers": variable("diab_dask_workers", "2"),
            "existing_address": variable("diab_dask_scheduler_address", ""),
        },
        # Fargate takes a minute or two to pull the image and start a task, twice in a row.
        execution_timeout=timedelta(minutes=25),
    ).as_setup()
    ((task_id, (pipeline, timeout)),) = ECS_STAGES.items()
    process = ecs_task(
        task_id,
        pipeline,
        timeout,
        task_definition=PIPELINE_TASK_DEFINITION,
        task_definition_variable="diab_ecs_pipeline_task_definition",
        environment={
            "DIAB_ENGINE": "dask",
            "DASK_SCHEDULER_ADDRESS": f"{{{{ ti.xcom_pull(task_ids={START!r}) }}}}",
        },
    )
    stop = PythonOperator(
        task_id="stop_dask_cluster",
        python_callable=stop_dask_cluster,
        op_kwargs={"cluster": ECS_CLUSTER},
        execution_timeout=timedelta(minutes=10),
    ).as_teardown(setups=start)
    start >> process >> stop
