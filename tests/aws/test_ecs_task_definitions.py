"""deploy/ecs: the seed's two task definition families, the batch one and the Dask cluster's,
valid input for `aws ecs register-task-definition --cli-input-json`, and the per-stage
command overrides."""

from __future__ import annotations

import json
import re
import string

import botocore.session
import dask.config
import pytest
from botocore.validate import ParamValidator

from diab_readmit.pipeline_registry import register_pipelines
from tests.conftest import PROJECT

ECS_DIR = PROJECT / "deploy" / "ecs"
STAGES = json.loads((ECS_DIR / "stage_commands.json").read_text())
#: What docs/aws.md tells the reader to export before `envsubst`.
PLACEHOLDERS = {
    "AWS_ACCOUNT_ID",
    "AWS_REGION",
    "DIAB_DATAMART_BUCKET",
    "DIAB_MODEL_REGISTRY_BUCKET",
}
FAMILIES = {
    # family: (cpu units, memory MiB), the seed's table
    "diab-readmit-demo-pipeline": ("1024", "2048"),
    "diab-readmit-demo-model-training": ("2048", "4096"),
    # scoring rebuilds the new encounters' history from the raw file, as data_processing does
    "diab-readmit-demo-batch-inference": ("2048", "4096"),
    # the Dask scheduler and workers of diab_data_processing, sized for a worker (the DAG
    # runs the scheduler with a 1 vCPU / 4 GB task-level override)
    "diab-readmit-demo-dask": ("2048", "8192"),
}
#: Container environment of each family: the Kedro stages get the bucket names; the Dask
#: tasks get the setting the run's client sets too (pandas' string dtype, as on the pandas
#: path) and no buckets (workers write where the client's datasets say).
ENVIRONMENT = dict.fromkeys(
    FAMILIES, {"DIAB_DATAMART_BUCKET", "DIAB_MODEL_REGISTRY_BUCKET"}
) | {"diab-readmit-demo-dask": {"DASK_DATAFRAME__CONVERT_STRING"}}
#: The batch stages: scoring new extracts, then monitoring them.
BATCH_STAGES = ("inference", "monitoring")


def definition(family: str) -> dict:
    text = (ECS_DIR / f"{family}.json").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) <= PLACEHOLDERS
    values = {
        name: f"example-{name.lower().replace('_', '-')}" for name in PLACEHOLDERS
    }
    values["AWS_ACCOUNT_ID"] = "123456789012"
    return json.loads(string.Template(text).substitute(values))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_task_definition_is_valid_register_task_definition_input(family):
    operation = (
        botocore.session.get_session()
        .get_service_model("ecs")
        .operation_model("RegisterTaskDefinition")
    )
    report = ParamValidator().validate(definition(family), operation.input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_resources_logs_and_container_are_the_seeds(family):
    spec = definition(family)
    assert spec["family"] == family
    assert (spec["cpu"], spec["memory"]) == FAMILIES[family]
    assert (
        spec["requiresCompatibilities"] == ["FARGATE"]
        and spec["networkMode"] == "awsvpc"
    )
    (container,) = spec["containerDefinitions"]
    assert container["name"] == STAGES["container"]
    logs = container["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-group"] == f"/ecs/{family}"
    environment = {e["name"] for e in container["environment"]}
    assert environment == ENVIRONMENT[family]
    assert "taskRoleArn" in spec, "S3 access comes from the task role, never from keys"


def test_every_family_runs_as_the_same_task_role_and_image():
    """Dask workers write the gold stores' month files: the stage tasks' role and image."""
    specs = [definition(family) for family in FAMILIES]
    assert len({spec["taskRoleArn"] for spec in specs}) == 1
    assert len({spec["containerDefinitions"][0]["image"] for spec in specs}) == 1


def test_every_stage_runs_a_registered_pipeline_on_the_right_family():
    registered = set(register_pipelines())
    assert set(STAGES["stages"]) == {
        "data_processing",
        "preprocessing",
        "logistic_regression",
        "random_forest",
        "xgboost",
        *BATCH_STAGES,
    }
    for stage, spec in STAGES["stages"].items():
        assert stage in registered
        assert spec["command"] == ["--pipelines", stage, "--env", "aws"]
        expected = (
            "diab-readmit-demo-pipeline"
            if stage == "data_processing"
            else "diab-readmit-demo-batch-inference"
            if stage in BATCH_STAGES
            else "diab-readmit-demo-model-training"
        )
        assert spec["task_definition"] == expected


def test_the_data_processing_family_runs_its_stage_by_default():
    (container,) = definition("diab-readmit-demo-pipeline")["containerDefinitions"]
    assert container["command"] == STAGES["stages"]["data_processing"]["command"]
    (training,) = definition("diab-readmit-demo-model-training")["containerDefinitions"]
    assert "command" not in training, (
        "each training-family run names its stage in an override"
    )


def test_the_batch_family_runs_the_stage_its_override_names():
    (batch,) = definition("diab-readmit-demo-batch-inference")["containerDefinitions"]
    assert "command" not in batch, "each batch run names its stage in an override"


def test_the_dask_family_runs_the_dask_cli_as_the_run_hook_configures_dask():
    (container,) = definition("diab-readmit-demo-dask")["containerDefinitions"]
    assert container["entryPoint"] == ["dask"]
    assert "command" not in container, "the DAG says scheduler or worker in an override"
    environment = {e["name"]: e["value"] for e in container["environment"]}
    # engine.DaskClusterForRun sets dataframe.convert-string False in the client; Dask
    # reads DASK_<SECTION>__<KEY> into the same setting on the scheduler and workers.
    assert environment == {"DASK_DATAFRAME__CONVERT_STRING": "False"}
    with dask.config.set(dask.config.collect_env(environment)):
        assert dask.config.get("dataframe.convert-string") is False
    assert {"containerPort": 8786, "protocol": "tcp"} in container["portMappings"]
