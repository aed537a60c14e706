"""What the project's DAGs share: ECS tasks that run one Kedro pipeline each, Airflow Variables
rendered when a task runs, and a Kedro session on the worker for the Python tasks.

Not a DAG: ``diab_model_training``, ``diab_batch_inference`` and ``diab_data_processing``
import it (Airflow puts the DAGs folder on ``sys.path``). Like them, it never imports Kedro
or the project at parse time.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

KEDRO_ENV = "aws"
#: The container name in deploy/ecs/*.json; command overrides address it by name.
CONTAINER_NAME = "diab-readmit"
#: ``awslogs-stream-prefix`` in deploy/ecs/*.json: streams are <prefix>/<container>/<task id>.
LOG_STREAM_PREFIX = "ecs"


def ecs_stages(file_name: str) -> dict[str, tuple[str, timedelta]]:
    """A DAG's ECS stages from the JSON file beside it (written by ``diab_readmit.ecs_stages``):
    task id -> (Kedro pipeline, execution timeout), in run order."""
    stages = json.loads(Path(__file__).with_name(file_name).read_text())
    return {
        task_id: (stage["pipeline"], timedelta(minutes=stage["timeout_minutes"]))
        for task_id, stage in stages.items()
    }


def kedro_command(pipeline: str) -> list[str]:
    """Arguments after the image's ``kedro run`` entrypoint for one stage."""
    return ["--pipelines", pipeline, "--env", KEDRO_ENV]


def variable(name: str, default: str) -> str:
    """A template rendered when the task runs: Airflow Variable ``name``, else ``default``."""
    return f"{{{{ var.value.get({name!r}, {default!r}) }}}}"


def id_list(name: str) -> str:
    """A comma-separated Variable as a list (the DAGs render templates as native objects)."""
    return f"{{{{ var.value.get({name!r}, '').split(',') | map('trim') | select | list }}}}"


BUCKETS = {
    "DIAB_DATAMART_BUCKET": variable("diab_datamart_bucket", "diab-readmit-datamart"),
    "DIAB_MODEL_REGISTRY_BUCKET": variable(
        "diab_model_registry_bucket", "diab-readmit-model-registry"
    ),
}
#: ``default_args`` of every DAG of the project: one retry, five minutes apart.
DEFAULT_ARGS = {
    "owner": "diab-readmit",
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
}
#: Where every ECS task of the project runs (the Kedro stages and the Dask cluster's tasks).
NETWORK_CONFIGURATION = {
    "awsvpcConfiguration": {
        "subnets": id_list("diab_ecs_subnets"),
        "securityGroups": id_list("diab_ecs_security_groups"),
        "assignPublicIp": variable("diab_ecs_assign_public_ip", "DISABLED"),
    }
}
ECS_CLUSTER = variable("diab_ecs_cluster", "diab-readmit-demo-cluster")
LAUNCH_TYPE = variable("diab_ecs_launch_type", "FARGATE")
#: ``op_kwargs`` of the Python tasks that open a Kedro session on the worker.
PROJECT_SETTINGS = {
    "project_path": variable("diab_project_path", "/opt/airflow/repo"),
    "environment": BUCKETS,
}


def in_kedro_session(
    project_path: str, environment: dict[str, str], work: Callable[[Any], Any]
) -> Any:
    """``work(context)`` in a Kedro session of the project in the ``aws`` environment.

    The DAG's bucket names are exported as the ECS tasks get them (conf/aws/globals.yml reads
    them from the environment), and Airflow's logging is put back afterwards: Kedro installs
    its own on import, which would reformat the rest of the task log.
    """
    root = logging.getLogger()
    airflow_logging = (root.handlers[:], root.level)
    previous = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        bootstrap_project(project_path)
        with KedroSession.create(project_path=project_path, env=KEDRO_ENV) as session:
            return work(session.load_context())
    finally:
        root.handlers[:], _ = airflow_logging
        root.setLevel(airflow_logging[1])
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def ecs_task(
    task_id: str,
    pipeline: str,
    timeout: timedelta,
    *,
    task_definition: str,
    task_definition_variable: str,
    environment: dict[str, str] | None = None,
) -> EcsRunTaskOperator:
    """An ECS task running ``kedro run --pipelines <pipeline> --env aws`` in the project image.

    ``task_definition`` is the family (deploy/ecs/<family>.json, logs in /ecs/<family>);
    the Airflow Variable ``task_definition_variable`` may name another. ``environment`` is
    added to the container's, after the bucket names (values may be templates, e.g. an
    XCom of an earlier task).
    """
    return EcsRunTaskOperator(
        task_id=task_id,
        execution_timeout=timeout,
        cluster=ECS_CLUSTER,
        task_definition=variable(task_definition_variable, task_definition),
        launch_type=LAUNCH_TYPE,
        overrides={
            "containerOverrides": [
                {
                    "name": CONTAINER_NAME,
                    "command": kedro_command(pipeline),
                    "environment": [
                        {"name": k, "value": v}
                        for k, v in {**BUCKETS, **(environment or {})}.items()
                    ],
                }
            ]
        },
        network_configuration=NETWORK_CONFIGURATION,
        container_name=CONTAINER_NAME,
        awslogs_group=f"/ecs/{task_definition}",
        awslogs_region=variable("diab_aws_region", "ap-southeast-1"),
        awslogs_stream_prefix=LOG_STREAM_PREFIX,
        # A retried Airflow task picks up the ECS task it already started instead of starting
        # a second one writing to the same stores.
        reattach=True,
        # ECS has no cheaper way to learn a task ended than polling; once a minute is plenty
        # for tasks that run for hours.
        waiter_delay=60,
        waiter_max_attempts=int(timeout.total_seconds() // 60) + 10,
    )
