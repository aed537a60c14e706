"""Airflow 3 DAG ``diab_model_training``: prerequisite checks, one preprocessing ECS task, then
one ECS task per algorithm, in parallel.

    check_model_config → check_gold_data_exists → check_sufficient_training_data
        → preprocess_training_data (ECS, 30 min)
            → train_logistic_regression (ECS, 2 h)
            → train_random_forest       (ECS, 3 h)
            → train_xgboost             (ECS, 3 h)

The three checks are ShortCircuitOperators running the project's own functions
(``diab_readmit.pipelines.preprocessing.prerequisites``) on the parameters and gold store
indexes of a Kedro session in the ``aws`` environment: a failed check logs its reason and
skips every later task. An error that is not a failed prerequisite (S3 access denied, a bug)
fails the task instead, so it is not mistaken for "no data yet".

Each ECS task runs the project image (entrypoint ``kedro run``) with the command
``--pipelines <pipeline> --env aws``, the same strings as ``deploy/ecs/stage_commands.json``.
The ECS tasks, one per algorithm, and their timeouts are read from
``diab_model_training_stages.json`` beside this file, which ``python -m
diab_readmit.ecs_stages`` writes from the project's algorithm recipes (this file is parsed
every few seconds and never imports Kedro or the project).

Configuration is read when a task runs, from Airflow Variables (or the environment as
``AIRFLOW_VAR_<NAME>``, Airflow's own fallback), with these defaults:

    diab_ecs_cluster                 diab-readmit-demo-cluster
    diab_ecs_subnets                 (none: comma-separated subnet ids, required)
    diab_ecs_security_groups         (none: comma-separated security group ids)
    diab_ecs_assign_public_ip        DISABLED
    diab_ecs_training_task_definition  diab-readmit-demo-model-training
    diab_ecs_launch_type             FARGATE
    diab_aws_region                  ap-southeast-1 (CloudWatch logs of the ECS tasks)
    diab_datamart_bucket             diab-readmit-datamart
    diab_model_registry_bucket       diab-readmit-model-registry
    diab_project_path                /opt/airflow/repo (the project checkout on the workers)

The ECS API region and credentials are those of the ``aws_default`` connection (or the
worker's default AWS chain). The worker needs the project installed (see airflow/README.md):
the checks import it lazily, so the DAG itself parses without it.
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
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import DAG

log = logging.getLogger(__name__)

KEDRO_ENV = "aws"
#: The container name in deploy/ecs/*.json; command overrides address it by name.
CONTAINER_NAME = "diab-readmit"
#: ``awslogs-stream-prefix`` in deploy/ecs/*.json: streams are <prefix>/<container>/<task id>.
LOG_STREAM_PREFIX = "ecs"
TRAINING_LOG_GROUP = "/ecs/diab-readmit-demo-model-training"

#: ECS stages of this DAG: task id → (Kedro pipeline, execution timeout), preprocessing first.
ECS_STAGES: dict[str, tuple[str, timedelta]] = {
    task_id: (stage["pipeline"], timedelta(minutes=stage["timeout_minutes"]))
    for task_id, stage in json.loads(
        Path(__file__).with_name("diab_model_training_stages.json").read_text()
    ).items()
}


def kedro_command(pipeline: str) -> list[str]:
    """Arguments after the image's ``kedro run`` entrypoint for one stage."""
    return ["--pipelines", pipeline, "--env", KEDRO_ENV]


def _variable(name: str, default: str) -> str:
    """A template rendered when the task runs: Airflow Variable ``name``, else ``default``."""
    return f"{{{{ var.value.get({name!r}, {default!r}) }}}}"


def _id_list(name: str) -> str:
    """A comma-separated Variable as a list (the DAG renders templates as native objects)."""
    return f"{{{{ var.value.get({name!r}, '').split(',') | map('trim') | select | list }}}}"


BUCKETS = {
    "DIAB_DATAMART_BUCKET": _variable("diab_datamart_bucket", "diab-readmit-datamart"),
    "DIAB_MODEL_REGISTRY_BUCKET": _variable(
        "diab_model_registry_bucket", "diab-readmit-model-registry"
    ),
}
CHECK_SETTINGS = {
    "project_path": _variable("diab_project_path", "/opt/airflow/repo"),
    "environment": BUCKETS,
}


# --- prerequisite checks (run on the Airflow worker) -------------------------------------


def _run_check(
    name: str,
    project_path: str,
    environment: dict[str, str],
    check: Callable[[Any, Any], Any],
) -> bool:
    """Run ``check(prerequisites module, Kedro context)`` on the project in the ``aws`` env.

    True when it passes; False, with the reason in the task log, when a prerequisite is not
    met (the ShortCircuitOperator then skips the rest). Any other error (S3 access denied, a
    bug) propagates and fails the task.

    The DAG's bucket names are exported as the ECS tasks get them (conf/aws/globals.yml reads
    them from the environment), and Airflow's logging is put back afterwards: Kedro installs
    its own on import, which would reformat the rest of the task log.
    """
    root = logging.getLogger()
    airflow_logging = (root.handlers[:], root.level)
    previous = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    failure = None
    try:
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        from diab_readmit.pipelines.preprocessing import prerequisites

        bootstrap_project(project_path)
        with KedroSession.create(project_path=project_path, env=KEDRO_ENV) as session:
            try:
                result = check(prerequisites, session.load_context())
            except prerequisites.PrerequisiteError as exc:
                failure = exc
    finally:
        root.handlers[:], _ = airflow_logging
        root.setLevel(airflow_logging[1])
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if failure is not None:
        log.warning("%s failed; skipping the rest of the run.\n%s", name, failure)
        return False
    log.info("%s passed: %s", name, result)
    return True


def check_model_config(project_path: str, environment: dict[str, str]) -> bool:
    """``temporal_splits``, ``training_config`` and ``preprocessing`` parameters are valid."""

    def check(prerequisites: Any, context: Any) -> Any:
        # The raw parameters: the project's check validates them and names what is wrong.
        params = context.config_loader["parameters"]
        return prerequisites.check_model_config(
            params.get("temporal_splits"),
            params.get("training_config"),
            params.get("preprocessing"),
        )

    return _run_check("check_model_config", project_path, environment, check)


def check_gold_data_exists(project_path: str, environment: dict[str, str]) -> bool:
    """The gold feature and label stores were written and hold rows."""

    def check(prerequisites: Any, context: Any) -> Any:
        return prerequisites.check_gold_data_exists(
            context.catalog.load("feature_store@index"),
            context.catalog.load("label_store@index"),
        )

    return _run_check("check_gold_data_exists", project_path, environment, check)


def check_sufficient_training_data(
    project_path: str, environment: dict[str, str]
) -> bool:
    """The feature store has at least ``preprocessing.min_partitions`` monthly partitions."""

    def check(prerequisites: Any, context: Any) -> Any:
        # What the preprocessing pipeline passes as params:preprocessing.min_partitions;
        # check_model_config ran first, so it is known to be valid here.
        min_partitions = context.config_loader["parameters"]["preprocessing"][
            "min_partitions"
        ]
        return prerequisites.check_sufficient_training_data(
            context.catalog.load("feature_store@index"), min_partitions
        )

    return _run_check(
        "check_sufficient_training_data", project_path, environment, check
    )


# --- the DAG ------------------------------------------------------------------------------


def _ecs_task(task_id: str, pipeline: str, timeout: timedelta) -> EcsRunTaskOperator:
    return EcsRunTaskOperator(
        task_id=task_id,
        execution_timeout=timeout,
        cluster=_variable("diab_ecs_cluster", "diab-readmit-demo-cluster"),
        task_definition=_variable(
            "diab_ecs_training_task_definition", "diab-readmit-demo-model-training"
        ),
        launch_type=_variable("diab_ecs_launch_type", "FARGATE"),
        overrides={
            "containerOverrides": [
                {
                    "name": CONTAINER_NAME,
                    "command": kedro_command(pipeline),
                    "environment": [
                        {"name": k, "value": v} for k, v in BUCKETS.items()
                    ],
                }
            ]
        },
        network_configuration={
            "awsvpcConfiguration": {
                "subnets": _id_list("diab_ecs_subnets"),
                "securityGroups": _id_list("diab_ecs_security_groups"),
                "assignPublicIp": _variable("diab_ecs_assign_public_ip", "DISABLED"),
            }
        },
        container_name=CONTAINER_NAME,
        awslogs_group=TRAINING_LOG_GROUP,
        awslogs_region=_variable("diab_aws_region", "ap-southeast-1"),
        awslogs_stream_prefix=LOG_STREAM_PREFIX,
        # A retried Airflow task picks up the ECS task it already started instead of starting
        # a second one writing to the same registry.
        reattach=True,
        # ECS has no cheaper way to learn a task ended than polling; once a minute is plenty
        # for tasks that run for hours.
        waiter_delay=60,
        waiter_max_attempts=int(timeout.total_seconds() // 60) + 10,
    )


with DAG(
    dag_id="diab_model_training",
    description="Prerequisite checks, preprocessing once, then one ECS training task per algorithm",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args={
        "owner": "diab-readmit",
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
    },
    tags=["diab_readmit", "training", "ecs"],
    doc_md=__doc__,
) as dag:
    checks = [
        ShortCircuitOperator(
            task_id=check.__name__,
            python_callable=check,
            op_kwargs=CHECK_SETTINGS,
            # A failed check skips every later task, not only the next one.
            ignore_downstream_trigger_rules=True,
            # Reading two manifests and the parameters takes seconds; a hung S3 call must not
            # hold the run for hours.
            execution_timeout=timedelta(minutes=10),
        )
        for check in (
            check_model_config,
            check_gold_data_exists,
            check_sufficient_training_data,
        )
    ]
    preprocess, *trainings = (
        _ecs_task(task_id, pipeline, timeout)
        for task_id, (pipeline, timeout) in ECS_STAGES.items()
    )
    checks[0] >> checks[1] >> checks[2] >> preprocess >> trainings
