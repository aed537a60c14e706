"""Airflow 3 DAG ``diab_batch_inference``: score the new extracts, monitor them, and retrain
when monitoring raises an alert.

    score_new_encounters (ECS, 1 h)  →  monitor_scored_encounters (ECS, 30 min)
        →  read_monitoring_status ─┬─ alert  →  trigger_model_training (diab_model_training)
                                   └─ ok / warn  →  no_retraining

``score_new_encounters`` runs ``kedro run --pipelines inference --env aws`` (the champion
scores data/01_raw/new_encounters/ → predictions), ``monitor_scored_encounters`` runs
``--pipelines monitoring`` (drift, performance, calibration → monitoring_status.json and the
report, on S3). ``read_monitoring_status`` loads ``monitoring.status`` through the project's
catalog on the worker (the same path the ECS task wrote), logs the status and its reasons,
and branches: on ``alert`` it triggers ``diab_model_training`` with the reasons in the run's
conf; a ``warn`` is logged and left to people (the report says why).

The ECS stages and timeouts come from ``diab_batch_inference_stages.json`` beside this file
(written by ``python -m diab_readmit.ecs_stages``, the same commands as
``deploy/ecs/stage_commands.json``). Configuration is that of ``diab_model_training`` (see its
docstring), plus ``diab_ecs_batch_task_definition`` (default
diab-readmit-demo-batch-inference). Schedule: monthly, when the hospital's extract arrives;
trigger it by hand after dropping a late extract.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG
from diab_ecs import (
    DEFAULT_ARGS,
    PROJECT_SETTINGS,
    ecs_stages,
    ecs_task,
    in_kedro_session,
)

log = logging.getLogger(__name__)

BATCH_TASK_DEFINITION = "diab-readmit-demo-batch-inference"
ECS_STAGES = ecs_stages("diab_batch_inference_stages.json")
TRAINING_DAG = "diab_model_training"
RETRAIN = "trigger_model_training"
NO_RETRAINING = "no_retraining"


def read_monitoring_status(
    project_path: str, environment: dict[str, str], ti: Any = None
) -> str:
    """The branch to follow: ``trigger_model_training`` on ``alert``, else ``no_retraining``.

    The status and its reasons go to the task log and to XCom (``monitoring_status``), for
    the trigger's conf.
    """
    status = in_kedro_session(
        project_path,
        environment,
        lambda context: context.catalog.load("monitoring.status"),
    )
    level = status.get("status")
    if level not in ("ok", "warn", "alert"):
        raise ValueError(
            f"monitoring_status.json has status {level!r}, not ok, warn or alert: it was "
            f"not written by the monitoring pipeline. Rerun the monitoring stage."
        )
    reasons = status.get("reasons", [])
    log.info(
        "Monitoring status: %s%s",
        level,
        "".join(f"\n  - {reason}" for reason in reasons),
    )
    if ti is not None:
        ti.xcom_push(
            key="monitoring_status", value={"status": level, "reasons": reasons}
        )
    if level == "alert":
        log.warning("Monitoring raised an alert: triggering %s.", TRAINING_DAG)
        return RETRAIN
    return NO_RETRAINING


with DAG(
    dag_id="diab_batch_inference",
    description="Score new extracts with the champion, monitor them, retrain on alert",
    schedule="@monthly",
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args=DEFAULT_ARGS,
    tags=["diab_readmit", "inference", "monitoring", "ecs"],
    doc_md=__doc__,
) as dag:
    score, monitor = (
        ecs_task(
            task_id,
            pipeline,
            timeout,
            task_definition=BATCH_TASK_DEFINITION,
            task_definition_variable="diab_ecs_batch_task_definition",
        )
        for task_id, (pipeline, timeout) in ECS_STAGES.items()
    )
    branch = BranchPythonOperator(
        task_id="read_monitoring_status",
        python_callable=read_monitoring_status,
        op_kwargs=PROJECT_SETTINGS,
        execution_timeout=timedelta(minutes=10),
    )
    retrain = TriggerDagRunOperator(
        task_id=RETRAIN,
        trigger_dag_id=TRAINING_DAG,
        conf={
            "reason": "monitoring alert",
            "monitoring_status": "{{ ti.xcom_pull(task_ids='read_monitoring_status', "
            "key='monitoring_status') }}",
        },
        wait_for_completion=False,
    )
    score >> monitor >> branch >> [retrain, EmptyOperator(task_id=NO_RETRAINING)]
