"""deploy/ecs: the seed's two task definition families and the batch one, valid input for
`aws ecs register-task-definition --cli-input-json`, and the per-stage command overrides."""

from __future__ import annotations

import json
import re
import string

import botocore.session
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
}
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
    assert environment == {"DIAB_DATAMART_BUCKET", "DIAB_MODEL_REGISTRY_BUCKET"}
    assert "taskRoleArn" in spec, "S3 access comes from the task role, never from keys"


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
