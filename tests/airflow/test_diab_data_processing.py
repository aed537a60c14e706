"""The `diab_data_processing` DAG under a real Airflow 3 (.venv-airflow), as the training DAG.

1. A DagBag loads it: a setup task that starts a Dask cluster of ECS tasks, the
   ``data_processing`` ECS task told to use it (``DIAB_ENGINE=dask``,
   ``DASK_SCHEDULER_ADDRESS`` from the setup's XCom), and a teardown that stops the cluster.
2. ``dag.test()`` runs it against ECS on 127.0.0.1 (moto), from the repo's task definitions:
   the scheduler and workers start with the run's ``startedBy`` and the scheduler's private
   IP in the workers' command and the processing task's environment; the teardown stops
   them whether processing succeeds or fails (and the run then fails); with
   ``diab_dask_scheduler_address`` set nothing is started or stopped.

moto runs no containers: a task of the Dask family stays RUNNING until it is stopped (as a
scheduler or worker does), every other task stops at once with exit code 0, except those of
the test's ``diab-failing-pipeline`` family (the pipeline's definition under another name),
whose container exits 1 (a failed ``kedro run``).
"""

from __future__ import annotations

import json
import os

import pytest

from diab_readmit.ecs_stages import DASK_TASK, PIPELINE_TASK
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

DAG_ID = "diab_data_processing"
START, PROCESS, STOP = "start_dask_cluster", "process_data_on_dask", "stop_dask_cluster"
FAILING_PIPELINE = "diab-failing-pipeline"
EXISTING = "tcp://10.9.8.7:8786"
#: One ECS cluster per scenario, so each run's tasks are told apart.
CLUSTERS = {
    "ready": "dask-ready",
    "processing_fails": "dask-processing-fails",
    "existing_cluster": "dask-existing",
}
WORKERS = 3


@pytest.fixture(scope="module")
def dag_structure(tmp_path_factory) -> dict:
    return describe_dag(tmp_path_factory, DAG_ID)


def test_dagbag_loads_the_dag_without_import_errors(dag_structure):
    assert dag_structure["import_errors"] == {}
    assert DAG_ID in dag_structure["dag_ids"]
    assert dag_structure["max_active_runs"] == 1


def test_setup_then_processing_then_a_teardown_of_the_cluster(dag_structure):
    tasks = dag_structure["tasks"]
    assert set(tasks) == {START, PROCESS, STOP}
    assert tasks[START]["is_setup"] and not tasks[START]["is_teardown"]
    assert tasks[STOP]["is_teardown"] and not tasks[STOP]["is_setup"]
    # a teardown runs once its work is done, failed or not (if its setup succeeded)
    assert tasks[STOP]["trigger_rule"] == "all_done_setup_success"
    assert tasks[PROCESS]["upstream"] == [START]
    assert tasks[STOP]["upstream"] == sorted([START, PROCESS])
    assert tasks[START]["callable"].endswith(".start_dask_cluster")
    assert tasks[STOP]["callable"].endswith(".stop_dask_cluster")


def test_processing_is_the_data_processing_stage_on_the_dask_engine(dag_structure):
    task = dag_structure["tasks"][PROCESS]
    assert task["type"] == "EcsRunTaskOperator"
    (override,) = task["overrides"]["containerOverrides"]
    assert override["command"] == STAGES["stages"]["data_processing"]["command"]
    assert STAGES["stages"]["data_processing"]["task_definition"] == PIPELINE_TASK
    assert PIPELINE_TASK in task["task_definition"]
    environment = {e["name"]: e["value"] for e in override["environment"]}
    assert environment["DIAB_ENGINE"] == "dask"
    assert (
        "xcom_pull(task_ids='start_dask_cluster')"
        in (environment["DASK_SCHEDULER_ADDRESS"])
    )
    assert {"DIAB_DATAMART_BUCKET", "DIAB_MODEL_REGISTRY_BUCKET"} <= set(environment)
    definition = json.loads((ECS_DIR / f"{PIPELINE_TASK}.json").read_text())
    options = definition["containerDefinitions"][0]["logConfiguration"]["options"]
    assert task["awslogs_group"] == options["awslogs-group"]
    assert task["execution_timeout"] == 2 * 3600


# --- 2. the DAG run against ECS on loopback ----------------------------------------------


def _patch_moto_task_lifecycle(patch: pytest.MonkeyPatch) -> None:
    from moto.ecs import models as ecs_models

    def task_status(task) -> str:
        if f":task-definition/{DASK_TASK}:" in task.task_definition_arn:
            return "RUNNING" if task.desired_status == "RUNNING" else "STOPPED"
        return "STOPPED"

    def exit_code(container) -> int:
        return 1 if f":task-definition/{FAILING_PIPELINE}:" in container.task_arn else 0

    ignore = lambda model, value: None  # noqa: E731 (moto's own code sets these)
    patch.setattr(ecs_models.Task, "last_status", property(task_status, ignore))
    patch.setattr(
        ecs_models.Container,
        "last_status",
        property(lambda container: "STOPPED", ignore),
        raising=False,
    )
    patch.setattr(
        ecs_models.Container, "exitCode", property(exit_code, ignore), raising=False
    )


def _tasks(aws, cluster: str) -> list[dict]:
    ecs = aws.client("ecs")
    arns = [
        arn
        for status in ("RUNNING", "STOPPED")
        for arn in ecs.list_tasks(cluster=cluster, desiredStatus=status)["taskArns"]
    ]
    if not arns:
        return []
    return ecs.describe_tasks(cluster=cluster, tasks=arns, include=["TAGS"])["tasks"]


@pytest.fixture(scope="module")
def dag_runs(tmp_path_factory):
    with (
        loopback_aws(tmp_path_factory.mktemp("aws-config")) as aws,
        pytest.MonkeyPatch.context() as patch,
    ):
        _patch_moto_task_lifecycle(patch)
        aws.create_buckets("dask-datamart", "dask-registry")
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        # moto names a task's ENI only with DNS hostnames on (its ECS tasks need a name)
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"][
            "SubnetId"
        ]
        group = ec2.create_security_group(
            GroupName="diab-dask", Description="tasks", VpcId=vpc
        )["GroupId"]
        ecs = aws.client("ecs")
        for cluster in CLUSTERS.values():
            ecs.create_cluster(clusterName=cluster)
        aws.client("logs").create_log_group(logGroupName=f"/ecs/{PIPELINE_TASK}")
        register_task_definitions(aws)
        failing = ecs.describe_task_definition(taskDefinition=PIPELINE_TASK)[
            "taskDefinition"
        ]
        ecs.register_task_definition(
            family=FAILING_PIPELINE,
            containerDefinitions=failing["containerDefinitions"],
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=failing["cpu"],
            memory=failing["memory"],
        )
        settings = {
            "AIRFLOW_VAR_DIAB_ECS_SUBNETS": subnet,
            "AIRFLOW_VAR_DIAB_ECS_SECURITY_GROUPS": group,
            "AIRFLOW_VAR_DIAB_AWS_REGION": REGION,
            "AIRFLOW_VAR_DIAB_DATAMART_BUCKET": "dask-datamart",
            "AIRFLOW_VAR_DIAB_MODEL_REGISTRY_BUCKET": "dask-registry",
            "AIRFLOW_VAR_DIAB_DASK_WORKERS": str(WORKERS),
        }
        extra = {
            "processing_fails": {
                "AIRFLOW_VAR_DIAB_ECS_PIPELINE_TASK_DEFINITION": FAILING_PIPELINE
            },
            "existing_cluster": {"AIRFLOW_VAR_DIAB_DASK_SCHEDULER_ADDRESS": EXISTING},
        }
        scenarios = [
            {
                "name": name,
                "environment": {
                    **settings,
                    "AIRFLOW_VAR_DIAB_ECS_CLUSTER": cluster,
                    **extra.get(name, {}),
                },
                "retry_delay_seconds": 0,
            }
            for name, cluster in CLUSTERS.items()
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
        started = {name: _tasks(aws, cluster) for name, cluster in CLUSTERS.items()}
    logs = {
        name: output.split(f"=== SCENARIO {name} ===")[1].split(f"=== END {name} ===")[
            0
        ]
        for name in results
    }
    return {"results": results, "logs": logs, "ecs_tasks": started, "subnet": subnet}


def _by_role(tasks: list[dict]) -> dict[str, list[dict]]:
    roles: dict[str, list[dict]] = {"scheduler": [], "worker": [], "kedro": []}
    for task in tasks:
        if f":task-definition/{DASK_TASK}:" in task["taskDefinitionArn"]:
            command = task["overrides"]["containerOverrides"][0]["command"]
            roles[command[0]].append(task)
        else:
            roles["kedro"].append(task)
    return roles


def _environment(task: dict) -> dict[str, str]:
    (override,) = task["overrides"]["containerOverrides"]
    return {e["name"]: e["value"] for e in override["environment"]}


def _private_ip(task: dict) -> str:
    (attachment,) = task["attachments"]
    details = {d["name"]: d["value"] for d in attachment["details"]}
    return details["privateIPv4Address"]


def _assert_started_and_stopped(tasks: list[dict], workers: int) -> str:
    """One scheduler and ``workers`` workers of one tag, all stopped; the scheduler address."""
    roles = _by_role(tasks)
    (scheduler,) = roles["scheduler"]
    assert len(roles["worker"]) == workers
    address = f"tcp://{_private_ip(scheduler)}:8786"
    tags = {task["startedBy"] for task in [scheduler, *roles["worker"]]}
    assert len(tags) == 1 and tags.pop().startswith("diab-dask-")
    assert scheduler["overrides"]["containerOverrides"][0]["command"][:3] == [
        "scheduler",
        "--port",
        "8786",
    ]
    # the scheduler is the smaller task: 1 vCPU / 4 GB instead of the family's 2 / 8
    assert (scheduler["overrides"]["cpu"], scheduler["overrides"]["memory"]) == (
        "1024",
        "4096",
    )
    for worker in roles["worker"]:
        command = worker["overrides"]["containerOverrides"][0]["command"]
        assert command[:2] == ["worker", address]
        assert command[command.index("--nworkers") + 1] == "1"
        assert "cpu" not in worker["overrides"]
    for task in [scheduler, *roles["worker"]]:
        assert task["launchType"] == "FARGATE"
        assert task["desiredStatus"] == "STOPPED", task["taskArn"]
        assert task["stoppedReason"].endswith("DAG run finished")
        tags = {t["key"]: t["value"] for t in task["tags"]}
        assert tags["diab-readmit-dask-cluster"] == task["startedBy"]
    return address


@pytest.mark.slow
def test_a_run_starts_the_cluster_processes_on_it_and_stops_it(dag_runs):
    result = dag_runs["results"]["ready"]
    assert result["tasks"] == {START: "success", PROCESS: "success", STOP: "success"}, (
        dag_runs["logs"]["ready"][-6000:]
    )
    assert result["state"] == "success"
    tasks = dag_runs["ecs_tasks"]["ready"]
    address = _assert_started_and_stopped(tasks, WORKERS)
    assert result["xcom"][START] == address
    (kedro,) = _by_role(tasks)["kedro"]
    assert f":task-definition/{PIPELINE_TASK}:" in kedro["taskDefinitionArn"]
    assert (
        kedro["overrides"]["containerOverrides"][0]["command"]
        == (STAGES["stages"]["data_processing"]["command"])
    )
    environment = _environment(kedro)
    assert environment["DIAB_ENGINE"] == "dask"
    assert environment["DASK_SCHEDULER_ADDRESS"] == address
    assert environment["DIAB_DATAMART_BUCKET"] == "dask-datamart"
    assert sorted(result["xcom"][STOP]) == sorted(
        t["taskArn"] for t in tasks if t is not kedro
    )
    assert f"Stopped {WORKERS + 1} Dask task(s)" in dag_runs["logs"]["ready"]


@pytest.mark.slow
def test_a_failed_processing_still_stops_the_cluster_and_fails_the_run(dag_runs):
    result = dag_runs["results"]["processing_fails"]
    assert result["tasks"] == {START: "success", PROCESS: "failed", STOP: "success"}, (
        dag_runs["logs"]["processing_fails"][-6000:]
    )
    assert result["state"] == "failed", (
        "the teardown's success must not hide the failure"
    )
    assert result["tries"][PROCESS] == 2, "retried once, on the same cluster"
    tasks = dag_runs["ecs_tasks"]["processing_fails"]
    address = _assert_started_and_stopped(tasks, WORKERS)
    kedro = _by_role(tasks)["kedro"]
    assert kedro and all(
        f":task-definition/{FAILING_PIPELINE}:" in t["taskDefinitionArn"] for t in kedro
    )
    assert {_environment(t)["DASK_SCHEDULER_ADDRESS"] for t in kedro} == {address}


@pytest.mark.slow
def test_an_existing_cluster_is_used_and_nothing_is_started_or_stopped(dag_runs):
    result = dag_runs["results"]["existing_cluster"]
    assert result["tasks"] == {START: "success", PROCESS: "success", STOP: "success"}, (
        dag_runs["logs"]["existing_cluster"][-6000:]
    )
    assert result["xcom"][START] == EXISTING
    assert result["xcom"][STOP] == []
    roles = _by_role(dag_runs["ecs_tasks"]["existing_cluster"])
    assert roles["scheduler"] == [] and roles["worker"] == []
    (kedro,) = roles["kedro"]
    assert _environment(kedro)["DASK_SCHEDULER_ADDRESS"] == EXISTING
    assert (
        "using the cluster at tcp://10.9.8.7:8786"
        in (dag_runs["logs"]["existing_cluster"])
    )
