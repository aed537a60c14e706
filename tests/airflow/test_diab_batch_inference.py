"""The `diab_batch_inference` DAG under a real Airflow 3 (.venv-airflow), as the training DAG.

1. A DagBag loads it: scoring then monitoring as ECS tasks with the commands of
   deploy/ecs/stage_commands.json, then a branch on the monitoring status that triggers
   ``diab_model_training`` on an alert.
2. ``dag.test()`` runs it against S3 + ECS on 127.0.0.1 (moto): the ECS tasks start from the
   repo's task definitions; the branch reads monitoring_status.json through the project's
   catalog in the ``aws`` environment. An ``alert`` triggers a run of diab_model_training
   carrying the reasons; ``ok`` and ``warn`` end in ``no_retraining``.
"""

from __future__ import annotations

import json
import os

import pytest

from diab_readmit.ecs_stages import BATCH_TASK
from tests.airflow.test_diab_model_training import (
    DAGS_FOLDER,
    ECS_DIR,
    STAGES,
    airflow_environment,
    describe_dag,
    register_task_definitions,
    run_in_airflow,
)
from tests.aws.loopback_aws import REGION, loopback_aws
from tests.conftest import make_scratch_project

DAG_ID = "diab_batch_inference"
PIPELINE_OF_TASK = {
    "score_new_encounters": "inference",
    "monitor_scored_encounters": "monitoring",
}
BRANCH = "read_monitoring_status"
REGISTRY = "batch-model-registry"
CLUSTER = "diab-batch-cluster"
#: Datamart bucket of each scenario -> the monitoring_status.json it holds.
STATUSES = {
    "ok": {"status": "ok", "reasons": []},
    "warn": {"status": "warn", "reasons": ["2009-01: 1 model input(s) drifted (warn)"]},
    "alert": {
        "status": "alert",
        "reasons": [
            "2009-01: 2 model input(s) drifted to PSI >= 0.25 (alert): age_midpoint"
        ],
    },
}


@pytest.fixture(scope="module")
def dag_structure(tmp_path_factory) -> dict:
    return describe_dag(tmp_path_factory, DAG_ID)


def test_dagbag_loads_every_dag_without_import_errors(dag_structure):
    assert dag_structure["import_errors"] == {}
    assert dag_structure["dag_ids"] == [
        DAG_ID,
        "diab_data_processing",
        "diab_model_training",
    ]
    assert dag_structure["max_active_runs"] == 1


def test_scoring_then_monitoring_then_a_branch_on_the_status(dag_structure):
    tasks = dag_structure["tasks"]
    assert set(tasks) == {
        *PIPELINE_OF_TASK,
        BRANCH,
        "trigger_model_training",
        "no_retraining",
    }
    assert tasks["monitor_scored_encounters"]["upstream"] == ["score_new_encounters"]
    assert tasks[BRANCH]["upstream"] == ["monitor_scored_encounters"]
    assert tasks[BRANCH]["downstream"] == ["no_retraining", "trigger_model_training"]
    assert tasks[BRANCH]["type"] == "BranchPythonOperator"
    assert tasks[BRANCH]["callable"].endswith(".read_monitoring_status")
    trigger = tasks["trigger_model_training"]
    assert trigger["type"] == "TriggerDagRunOperator"
    assert trigger["trigger_dag_id"] == "diab_model_training"
    assert tasks["no_retraining"]["type"] == "EmptyOperator"


def test_ecs_tasks_run_the_stage_commands_on_the_batch_task_definition(dag_structure):
    definition = json.loads((ECS_DIR / f"{BATCH_TASK}.json").read_text())
    (container,) = definition["containerDefinitions"]
    for task_id, pipeline in PIPELINE_OF_TASK.items():
        task = dag_structure["tasks"][task_id]
        assert task["type"] == "EcsRunTaskOperator"
        (override,) = task["overrides"]["containerOverrides"]
        assert override["command"] == STAGES["stages"][pipeline]["command"]
        assert STAGES["stages"][pipeline]["task_definition"] == BATCH_TASK
        assert BATCH_TASK in task["task_definition"]
        assert task["container_name"] == container["name"]
        options = container["logConfiguration"]["options"]
        assert task["awslogs_group"] == options["awslogs-group"]
    assert dag_structure["tasks"]["score_new_encounters"]["execution_timeout"] == 3600
    assert (
        dag_structure["tasks"]["monitor_scored_encounters"]["execution_timeout"] == 1800
    )


@pytest.fixture(scope="module")
def dag_runs(tmp_path_factory):
    """One run per monitoring status, each with its own datamart bucket."""
    from moto.ecs import models as ecs_models
    from moto.moto_api import state_manager

    with (
        loopback_aws(tmp_path_factory.mktemp("aws-config")) as aws,
        pytest.MonkeyPatch.context() as patch,
    ):
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "immediate"}
        )
        stopped = property(lambda container: "STOPPED", lambda container, value: None)
        patch.setattr(ecs_models.Container, "last_status", stopped, raising=False)
        buckets = {name: f"batch-datamart-{name}" for name in STATUSES}
        aws.create_buckets(*buckets.values(), REGISTRY)
        s3 = aws.client("s3")
        for name, status in STATUSES.items():
            s3.put_object(
                Bucket=buckets[name],
                Key="reporting/monitoring/monitoring_status.json",
                Body=json.dumps(status).encode(),
            )
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"][
            "SubnetId"
        ]
        aws.client("ecs").create_cluster(clusterName=CLUSTER)
        aws.client("logs").create_log_group(logGroupName=f"/ecs/{BATCH_TASK}")
        register_task_definitions(aws)
        project = make_scratch_project(
            tmp_path_factory.mktemp("airflow-project") / "project"
        )
        settings = {
            "AIRFLOW_VAR_DIAB_PROJECT_PATH": str(project.path),
            "AIRFLOW_VAR_DIAB_ECS_CLUSTER": CLUSTER,
            "AIRFLOW_VAR_DIAB_ECS_SUBNETS": subnet,
            "AIRFLOW_VAR_DIAB_AWS_REGION": REGION,
            "AIRFLOW_VAR_DIAB_MODEL_REGISTRY_BUCKET": REGISTRY,
        }
        scenarios = [
            {
                "name": name,
                "environment": {**settings, "AIRFLOW_VAR_DIAB_DATAMART_BUCKET": bucket},
            }
            for name, bucket in buckets.items()
        ]
        home = tmp_path_factory.mktemp("airflow-home")
        results, output = run_in_airflow(
            ["run", str(DAGS_FOLDER), json.dumps(scenarios), DAG_ID],
            airflow_environment(
                home, aws.environment(endpoint_variable="AWS_ENDPOINT_URL")
            ),
            timeout=int(os.environ.get("DIAB_TEST_AIRFLOW_TIMEOUT", "300")),
            log_file=home / "dag_test.log",
        )
        ecs = aws.client("ecs")
        arns = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
        started = (
            ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
        )
        state_manager.unset_transition(model_name="ecs::task")
    logs = {
        name: output.split(f"=== SCENARIO {name} ===")[1].split(f"=== END {name} ===")[
            0
        ]
        for name in results
    }
    return {"results": results, "logs": logs, "ecs_tasks": started}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["ok", "warn"])
def test_no_alert_scores_monitors_and_does_not_retrain(dag_runs, scenario):
    result = dag_runs["results"][scenario]
    assert result["tasks"] == {
        "score_new_encounters": "success",
        "monitor_scored_encounters": "success",
        BRANCH: "success",
        "no_retraining": "success",
        "trigger_model_training": "skipped",
    }, dag_runs["logs"][scenario][-6000:]
    assert f"Monitoring status: {scenario}" in dag_runs["logs"][scenario]


@pytest.mark.slow
def test_an_alert_triggers_the_training_dag_with_the_reasons(dag_runs):
    result = dag_runs["results"]["alert"]
    assert result["tasks"] == {
        "score_new_encounters": "success",
        "monitor_scored_encounters": "success",
        BRANCH: "success",
        "no_retraining": "skipped",
        "trigger_model_training": "success",
    }, dag_runs["logs"]["alert"][-6000:]
    log = dag_runs["logs"]["alert"]
    assert "age_midpoint" in log and "triggering diab_model_training" in log
    (training_run,) = result["triggered"]["diab_model_training"]
    assert training_run["conf"]["reason"] == "monitoring alert"
    assert "age_midpoint" in str(training_run["conf"]["monitoring_status"])
    # ok and warn ran first and triggered nothing.
    for scenario in ("ok", "warn"):
        assert dag_runs["results"][scenario]["triggered"]["diab_model_training"] == []


@pytest.mark.slow
def test_the_ecs_tasks_ran_the_batch_stages(dag_runs):
    commands = [
        task["overrides"]["containerOverrides"][0]["command"]
        for task in dag_runs["ecs_tasks"]
    ]
    for pipeline in PIPELINE_OF_TASK.values():
        assert commands.count(STAGES["stages"][pipeline]["command"]) == len(STATUSES)
    for task in dag_runs["ecs_tasks"]:
        assert f":task-definition/{BATCH_TASK}:" in task["taskDefinitionArn"]
