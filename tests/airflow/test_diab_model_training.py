"""The `diab_model_training` DAG under a real Airflow 3, in its own venv (.venv-airflow, built by
tools/ensure_airflow_venv.sh: Airflow's pins clash with kedro-viz's, see that script).

1. A DagBag loads airflow/dags with no import errors; the tasks, dependencies, timeouts and
   ECS commands are the seed's, and every command names a pipeline the project registers and
   is the same as in deploy/ecs/stage_commands.json.
2. ``dag.test()`` runs the whole DAG against an AWS look-alike on 127.0.0.1 (moto: S3, ECS,
   EC2, CloudWatch Logs): the prerequisite checks run the project's functions on gold store
   manifests in S3, and the ECS operators start tasks from the repo's task definitions in
   the subnets and cluster named by Airflow Variables. A missing gold store, or too little
   history, skips everything after the failed check, with the reason in the log.
"""

from __future__ import annotations

import json
import os
import string
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from diab_readmit.datasets.delta_store import store_pair
from diab_readmit.datasets.table_pairs import start_new_run
from diab_readmit.pipeline_registry import register_pipelines
from tests.aws.loopback_aws import REGION, LoopbackAWS, loopback_aws
from tests.conftest import PROJECT, make_scratch_project

AIRFLOW_PYTHON = PROJECT / ".venv-airflow" / "bin" / "python"
RUNNER = Path(__file__).with_name("dag_runner.py")
DAGS_FOLDER = PROJECT / "airflow" / "dags"
ECS_DIR = PROJECT / "deploy" / "ecs"
STAGES = json.loads((ECS_DIR / "stage_commands.json").read_text())

CHECKS = [
    "check_model_config",
    "check_gold_data_exists",
    "check_sufficient_training_data",
]
TRAININGS = ["train_logistic_regression", "train_random_forest", "train_xgboost"]
TIMEOUTS = {
    "preprocess_training_data": 30 * 60,
    "train_logistic_regression": 2 * 3600,
    "train_random_forest": 3 * 3600,
    "train_xgboost": 3 * 3600,
}
PIPELINE_OF_TASK = {
    "preprocess_training_data": "preprocessing",
    "train_logistic_regression": "logistic_regression",
    "train_random_forest": "random_forest",
    "train_xgboost": "xgboost",
}


def airflow_environment(
    home: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    environment = dict(extra or os.environ)
    environment.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        KEDRO_DISABLE_TELEMETRY="true",
        # The project of this checkout, whichever checkout's editable install .venv-airflow
        # holds (a worktree shares the main one's): PYTHONPATH comes before its .pth entry.
        PYTHONPATH=str(PROJECT / "src"),
        NO_COLOR="1",
        COLUMNS="250",
    )
    return environment


def run_in_airflow(
    args: list[str], environment: dict[str, str], timeout: int, log_file: Path
) -> tuple[dict, str]:
    """Run dag_runner.py in .venv-airflow; its whole output is kept in ``log_file``."""
    if not AIRFLOW_PYTHON.exists():
        pytest.fail(
            f"{AIRFLOW_PYTHON} is missing: run tools/ensure_airflow_venv.sh "
            f"(`make test` runs it before pytest)"
        )
    try:
        result = subprocess.run(
            [str(AIRFLOW_PYTHON), str(RUNNER), *args],
            env=environment,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=PROJECT,
        )
    except subprocess.TimeoutExpired as expired:
        output = "".join(
            part.decode(errors="replace") if isinstance(part, bytes) else part or ""
            for part in (expired.stdout, expired.stderr)
        )
        log_file.write_text(output)
        raise AssertionError(
            f"dag_runner.py {args[0]} did not finish in {timeout} s (whole output in "
            f"{log_file}):\n{output[-10000:]}"
        ) from None
    output = result.stdout + result.stderr
    log_file.write_text(output)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise AssertionError(
            f"dag_runner.py {args[0]} exited {result.returncode} "
            f"(whole output in {log_file}):\n{output[-10000:]}"
        )
    return json.loads(lines[-1].removeprefix("RESULT ")), output


# --- 1. structure ------------------------------------------------------------------------


def describe_dag(tmp_path_factory, *dag_id: str) -> dict:
    """What dag_runner's ``describe`` reports of the DAGs folder (and of ``dag_id``, by
    default this module's DAG), in an Airflow home of its own."""
    home = tmp_path_factory.mktemp("airflow-home")
    structure, _ = run_in_airflow(
        ["describe", str(DAGS_FOLDER), *dag_id],
        airflow_environment(home),
        timeout=180,
        log_file=home / "describe.log",
    )
    return structure


@pytest.fixture(scope="module")
def dag_structure(tmp_path_factory) -> dict:
    return describe_dag(tmp_path_factory)


def test_dagbag_loads_the_dag_without_import_errors(dag_structure):
    assert dag_structure["import_errors"] == {}
    assert dag_structure["dag_ids"] == [
        "diab_batch_inference",
        "diab_data_processing",
        "diab_model_training",
    ]


def test_tasks_and_dependencies_are_the_seeds(dag_structure):
    tasks = dag_structure["tasks"]
    assert set(tasks) == {
        *CHECKS,
        "preprocess_training_data",
        *TRAININGS,
        "summarize_champion_gate",
    }
    chain = [*CHECKS, "preprocess_training_data"]
    for before, after in zip(chain, chain[1:]):
        assert tasks[after]["upstream"] == [before]
        assert tasks[before]["downstream"] == [after]
    assert tasks["preprocess_training_data"]["downstream"] == sorted(TRAININGS)
    for training in TRAININGS:
        assert tasks[training]["upstream"] == ["preprocess_training_data"]
        assert tasks[training]["downstream"] == ["summarize_champion_gate"]
    assert tasks["summarize_champion_gate"]["upstream"] == sorted(TRAININGS)
    assert tasks["summarize_champion_gate"]["downstream"] == []
    assert dag_structure["max_active_runs"] == 1


def test_checks_are_short_circuits_calling_the_dag_callables(dag_structure):
    for check in CHECKS:
        task = dag_structure["tasks"][check]
        assert task["type"] == "ShortCircuitOperator"
        assert task["callable"].endswith(f".{check}")
        assert task["ignore_downstream_trigger_rules"] is True


def test_ecs_tasks_have_the_seeds_timeouts(dag_structure):
    for task_id, seconds in TIMEOUTS.items():
        task = dag_structure["tasks"][task_id]
        assert task["type"] == "EcsRunTaskOperator"
        assert task["execution_timeout"] == seconds, task_id


def test_every_ecs_command_names_a_registered_pipeline_and_matches_stage_commands(
    dag_structure,
):
    registered = set(register_pipelines())
    for task_id, pipeline in PIPELINE_OF_TASK.items():
        task = dag_structure["tasks"][task_id]
        (override,) = task["overrides"]["containerOverrides"]
        assert override["name"] == STAGES["container"] == task["container_name"]
        command = override["command"]
        assert command == STAGES["stages"][pipeline]["command"], task_id
        assert command[command.index("--pipelines") + 1] in registered
        assert command[command.index("--env") + 1] == "aws"


def test_ecs_tasks_read_logs_where_the_task_definition_writes_them(dag_structure):
    definition = json.loads(
        (ECS_DIR / "diab-readmit-demo-model-training.json").read_text()
    )
    (container,) = definition["containerDefinitions"]
    options = container["logConfiguration"]["options"]
    for task_id in PIPELINE_OF_TASK:
        task = dag_structure["tasks"][task_id]
        assert task["container_name"] == container["name"]
        assert task["awslogs_group"] == options["awslogs-group"]
        assert task["awslogs_stream_prefix"] == options["awslogs-stream-prefix"]


# --- 2. the DAG run against S3 + ECS on loopback ---------------------------------------------

DATAMART_READY = "datamart-ready"
DATAMART_EMPTY = "datamart-empty"
DATAMART_SHORT = "datamart-short-history"
REGISTRY = "model-registry"
CLUSTER = "diab-test-cluster"


def write_gold(aws: LoopbackAWS, bucket: str, months: int) -> None:
    """A tiny gold store: the checks read only its manifest (partitions and row counts)."""
    dates = pd.date_range("2005-01-01", periods=months, freq="MS").repeat(3)
    features = pd.DataFrame(
        {
            "encounter_id": range(len(dates)),
            "age_midpoint": 55.0,
            "partition_date": dates,
        }
    )
    labels = features[["encounter_id", "partition_date"]].assign(readmitted_30d=0)
    options = {
        "credentials": {"key": "testing", "secret": "testing"},
        "fs_args": {
            "client_kwargs": {"endpoint_url": aws.endpoint, "region_name": REGION}
        },
    }
    feature_store, label_store = store_pair(
        f"s3://{bucket}/gold/feature_store",
        f"s3://{bucket}/gold/label_store",
        **options,
    )
    start_new_run()  # both stores committed together, as one data_processing run does
    feature_store.save(features)
    label_store.save(labels)


def register_task_definitions(aws: LoopbackAWS) -> None:
    ecs = aws.client("ecs")
    for path in sorted(ECS_DIR.glob("diab-readmit-demo-*.json")):
        definition = json.loads(
            string.Template(path.read_text()).substitute(
                AWS_ACCOUNT_ID="123456789012",
                AWS_REGION=REGION,
                DIAB_DATAMART_BUCKET=DATAMART_READY,
                DIAB_MODEL_REGISTRY_BUCKET=REGISTRY,
            )
        )
        # moto needs a container-level memory to place a task (real Fargate does not).
        definition["containerDefinitions"][0]["memory"] = int(definition["memory"])
        ecs.register_task_definition(
            **definition
        )  # botocore validates every field name


@pytest.fixture(scope="module")
def dag_runs(tmp_path_factory):
    """Three runs of the DAG: ready data, no gold store, too little history."""
    from moto.ecs import models as ecs_models
    from moto.moto_api import state_manager

    with (
        loopback_aws(tmp_path_factory.mktemp("aws-config")) as aws,
        pytest.MonkeyPatch.context() as patch,
    ):
        # moto's tasks stop at once (real ones after the container exits); moto never moves
        # a container past PENDING, where ECS reports it STOPPED with its exit code.
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "immediate"}
        )
        stopped = property(lambda container: "STOPPED", lambda container, value: None)
        patch.setattr(ecs_models.Container, "last_status", stopped, raising=False)

        aws.create_buckets(DATAMART_READY, DATAMART_EMPTY, DATAMART_SHORT, REGISTRY)
        write_gold(aws, DATAMART_READY, months=24)
        write_gold(aws, DATAMART_SHORT, months=3)
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"][
                "SubnetId"
            ]
            for i in (1, 2)
        ]
        group = ec2.create_security_group(
            GroupName="diab", Description="tasks", VpcId=vpc
        )["GroupId"]
        aws.client("ecs").create_cluster(clusterName=CLUSTER)
        aws.client("logs").create_log_group(
            logGroupName="/ecs/diab-readmit-demo-model-training"
        )
        register_task_definitions(aws)

        project = make_scratch_project(
            tmp_path_factory.mktemp("airflow-project") / "project"
        )
        # the same project with a test window cut mid-month, set in conf/aws as an operator might
        misconfigured = make_scratch_project(
            tmp_path_factory.mktemp("airflow-bad") / "project"
        )
        splits = yaml.safe_load(
            (PROJECT / "conf/base/parameters_preprocessing.yml").read_text()
        )
        splits = {"temporal_splits": splits["temporal_splits"]}
        splits["temporal_splits"]["test"]["start_date"] = "2006-01-15"
        (misconfigured.path / "conf/aws/parameters_override.yml").write_text(
            yaml.safe_dump(splits)
        )
        settings = {
            "AIRFLOW_VAR_DIAB_PROJECT_PATH": str(project.path),
            "AIRFLOW_VAR_DIAB_ECS_CLUSTER": CLUSTER,
            "AIRFLOW_VAR_DIAB_ECS_SUBNETS": ", ".join(subnets),
            "AIRFLOW_VAR_DIAB_ECS_SECURITY_GROUPS": group,
            "AIRFLOW_VAR_DIAB_AWS_REGION": REGION,
            "AIRFLOW_VAR_DIAB_MODEL_REGISTRY_BUCKET": REGISTRY,
        }
        scenarios = [
            {
                "name": name,
                "environment": {**settings, "AIRFLOW_VAR_DIAB_DATAMART_BUCKET": bucket},
            }
            for name, bucket in (
                ("ready", DATAMART_READY),
                ("no_gold", DATAMART_EMPTY),
                ("short_history", DATAMART_SHORT),
            )
        ]
        scenarios.append(
            {
                "name": "bad_config",
                "environment": {
                    **settings,
                    "AIRFLOW_VAR_DIAB_DATAMART_BUCKET": DATAMART_READY,
                    "AIRFLOW_VAR_DIAB_PROJECT_PATH": str(misconfigured.path),
                },
            }
        )
        home = tmp_path_factory.mktemp("airflow-home")
        environment = airflow_environment(
            home, aws.environment(endpoint_variable="AWS_ENDPOINT_URL")
        )
        results, output = run_in_airflow(
            ["run", str(DAGS_FOLDER), json.dumps(scenarios)],
            environment,
            timeout=300,
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
    return {
        "results": results,
        "logs": logs,
        "ecs_tasks": started,
        "subnets": subnets,
        "group": group,
    }


@pytest.mark.slow
def test_ready_data_runs_preprocessing_then_the_three_trainings_on_ecs(dag_runs):
    ready = dag_runs["results"]["ready"]
    assert ready["tasks"] == {
        task: "success"
        for task in [*CHECKS, *PIPELINE_OF_TASK, "summarize_champion_gate"]
    }, dag_runs["logs"]["ready"][-6000:]
    assert ready["state"] == "success"
    # moto's ECS tasks train nothing: the gate's summary reads the empty registry on S3.
    for algorithm in ("logistic_regression", "random_forest", "xgboost"):
        assert f"{algorithm}: no version registered yet" in dag_runs["logs"]["ready"]

    started = dag_runs["ecs_tasks"]
    commands = sorted(
        task["overrides"]["containerOverrides"][0]["command"] for task in started
    )
    assert commands == sorted(
        STAGES["stages"][p]["command"] for p in PIPELINE_OF_TASK.values()
    )
    for task in started:
        assert (
            ":task-definition/diab-readmit-demo-model-training:"
            in task["taskDefinitionArn"]
        )
        assert task["launchType"] == "FARGATE"
        (override,) = task["overrides"]["containerOverrides"]
        assert override["name"] == "diab-readmit"
        assert {e["name"]: e["value"] for e in override["environment"]} == {
            "DIAB_DATAMART_BUCKET": DATAMART_READY,
            "DIAB_MODEL_REGISTRY_BUCKET": REGISTRY,
        }
        # the first subnet of the Variable: moto attaches the task's ENI there
        details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
        assert details["subnetId"] == dag_runs["subnets"][0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "failed_check", "reason"),
    [
        (
            "bad_config",
            "check_model_config",
            "temporal_splits.test.start_date = 2006-01-15 is not the first day of a month",
        ),
        (
            "no_gold",
            "check_gold_data_exists",
            f"the feature store at s3://{DATAMART_EMPTY}/gold/feature_store does not exist",
        ),
        (
            "short_history",
            "check_sufficient_training_data",
            "has 3 non-empty monthly partition(s)",
        ),
    ],
)
def test_a_failed_check_skips_the_rest_with_its_reason_in_the_log(
    dag_runs, scenario, failed_check, reason
):
    result = dag_runs["results"][scenario]
    position = CHECKS.index(failed_check)
    expected = {check: "success" for check in CHECKS[: position + 1]}
    expected.update(
        {
            task: "skipped"
            for task in [
                *CHECKS[position + 1 :],
                *PIPELINE_OF_TASK,
                "summarize_champion_gate",
            ]
        }
    )
    assert result["tasks"] == expected, dag_runs["logs"][scenario][-6000:]
    log = dag_runs["logs"][scenario]
    assert f"{failed_check} failed; skipping the rest of the run" in log
    assert reason in log
