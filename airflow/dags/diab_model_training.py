"""Airflow 3 DAG ``diab_model_training``: prerequisite checks, one preprocessing ECS task, then
one ECS task per algorithm, in parallel.

    check_model_config → check_gold_data_exists → check_sufficient_training_data
        → preprocess_training_data (ECS, 30 min)
            → train_logistic_regression (ECS, 2 h)
            → train_random_forest       (ECS, 3 h)
            → train_xgboost             (ECS, 3 h)
                → summarize_champion_gate (what the gate made of each new version)

The three checks are ShortCircuitOperators running the project's own functions
(``diab_readmit.pipelines.preprocessing.prerequisites``) on the parameters and gold store
indexes of a Kedro session in the ``aws`` environment: a failed check logs its reason and
skips every later task. An error that is not a failed prerequisite (S3 access denied, a bug)
fails the task instead, so it is not mistaken for "no data yet".

A version the champion gate rejects is still registered and its ECS task succeeds (exit 0);
``summarize_champion_gate`` then logs one line per algorithm (rejected with the gate's reasons
and the champion latest/ still holds, or promoted) and returns the same as its XCom, so the
run's last task says what production now serves.

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

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.python import (
    PythonOperator,
    ShortCircuitOperator,
)
from airflow.sdk import DAG
from diab_ecs import (
    DEFAULT_ARGS,
    PROJECT_SETTINGS,
    ecs_stages,
    ecs_task,
    in_kedro_session,
)

log = logging.getLogger(__name__)

TRAINING_TASK_DEFINITION = "diab-readmit-demo-model-training"
#: ECS stages of this DAG: task id → (Kedro pipeline, execution timeout), preprocessing first.
ECS_STAGES = ecs_stages("diab_model_training_stages.json")


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
    """

    def work(context: Any) -> tuple[bool, Any]:
        from diab_readmit.pipelines.preprocessing import prerequisites

        try:
            return True, check(prerequisites, context)
        except prerequisites.PrerequisiteError as exc:
            return False, exc

    passed, result = in_kedro_session(project_path, environment, work)
    if not passed:
        log.warning("%s failed; skipping the rest of the run.\n%s", name, result)
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


def summarize_champion_gate(
    project_path: str, environment: dict[str, str], algorithms: list[str]
) -> list[dict[str, Any]]:
    """The champion gate's outcome for each algorithm's newest version, logged and returned."""

    def work(context: Any) -> list[dict[str, Any]]:
        from diab_readmit.pipelines.training.promotion import gate_outcome

        return [
            gate_outcome(context.catalog.load(f"{algorithm}.model_registry@history"))
            for algorithm in algorithms
        ]

    outcomes = in_kedro_session(project_path, environment, work)
    for outcome in outcomes:
        level = logging.WARNING if outcome["status"] == "rejected" else logging.INFO
        log.log(level, "%s", outcome["message"])
    return outcomes


with DAG(
    dag_id="diab_model_training",
    description="Prerequisite checks, preprocessing once, then one ECS training task per algorithm",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args=DEFAULT_ARGS,
    tags=["diab_readmit", "training", "ecs"],
    doc_md=__doc__,
) as dag:
    checks = [
        ShortCircuitOperator(
            task_id=check.__name__,
            python_callable=check,
            op_kwargs=PROJECT_SETTINGS,
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
        ecs_task(
            task_id,
            pipeline,
            timeout,
            task_definition=TRAINING_TASK_DEFINITION,
            task_definition_variable="diab_ecs_training_task_definition",
        )
        for task_id, (pipeline, timeout) in ECS_STAGES.items()
    )
    summary = PythonOperator(
        task_id="summarize_champion_gate",
        python_callable=summarize_champion_gate,
        op_kwargs={
            **PROJECT_SETTINGS,
            "algorithms": [pipeline for pipeline, _ in list(ECS_STAGES.values())[1:]],
        },
        execution_timeout=timedelta(minutes=10),
    )
    checks[0] >> checks[1] >> checks[2] >> preprocess >> trainings >> summary
