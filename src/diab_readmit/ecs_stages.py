"""The ECS stages, derived from ``algorithms.RECIPES``: one command per stage, one DAG task each.

These files are written from it, since none of their readers may import the project:

- ``deploy/ecs/stage_commands.json``: each stage's task definition family and the command
  after the image's ``kedro run`` entrypoint (docs/aws.md runs them with ``aws ecs run-task``);
- ``airflow/dags/diab_model_training_stages.json``: the DAG's ECS tasks, their pipelines and
  timeouts (the DAG file is parsed every few seconds and never imports Kedro);
- ``airflow/dags/diab_batch_inference_stages.json``: the same for the batch DAG (scoring,
  then monitoring);
- ``airflow/dags/diab_data_processing_stages.json``: the same for the DAG that runs
  ``data_processing`` on a Dask cluster of Fargate tasks (family ``DASK_TASK``).

``python -m diab_readmit.ecs_stages`` (from the project root) rewrites them after an algorithm
is added; ``--check`` only reports whether they are current (tests/aws checks it too).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from diab_readmit.algorithms import RECIPES

CONTAINER = "diab-readmit"
KEDRO_ENV = "aws"
#: Task definition families (deploy/ecs/<family>.json): the gold build needs less memory.
PIPELINE_TASK = "diab-readmit-demo-pipeline"
TRAINING_TASK = "diab-readmit-demo-model-training"
#: Scoring new extracts (their history is rebuilt from the raw file) and monitoring them.
BATCH_TASK = "diab-readmit-demo-batch-inference"
#: The Dask scheduler and workers of ``diab_data_processing``: the same image and task role,
#: the ``dask`` CLI as entrypoint.
DASK_TASK = "diab-readmit-demo-dask"
PREPROCESSING_TIMEOUT_MINUTES = 30
#: The batch DAG's stages, in run order: task id -> (pipeline, timeout in minutes).
BATCH_STAGES = {
    "score_new_encounters": ("inference", 60),
    "monitor_scored_encounters": ("monitoring", 30),
}
#: ``diab_data_processing``'s one Kedro stage, the client of its Dask cluster.
DATA_PROCESSING_STAGES = {"process_data_on_dask": ("data_processing", 120)}

STAGE_COMMANDS = Path("deploy/ecs/stage_commands.json")
DAG_STAGES = Path("airflow/dags/diab_model_training_stages.json")
BATCH_DAG_STAGES = Path("airflow/dags/diab_batch_inference_stages.json")
DATA_PROCESSING_DAG_STAGES = Path("airflow/dags/diab_data_processing_stages.json")


def kedro_command(pipeline: str) -> list[str]:
    """Arguments after the image's ``kedro run`` entrypoint for one stage."""
    return ["--pipelines", pipeline, "--env", KEDRO_ENV]


def stage_commands() -> dict[str, Any]:
    """``deploy/ecs/stage_commands.json``: every stage an ECS task runs, in run order."""
    families = {
        "data_processing": PIPELINE_TASK,
        "preprocessing": TRAINING_TASK,
        **dict.fromkeys(RECIPES, TRAINING_TASK),
        **{pipeline: BATCH_TASK for pipeline, _ in BATCH_STAGES.values()},
    }
    return {
        "container": CONTAINER,
        "stages": {
            stage: {"task_definition": family, "command": kedro_command(stage)}
            for stage, family in families.items()
        },
    }


def dag_stages() -> dict[str, dict[str, Any]]:
    """The DAG's ECS tasks: task id -> the pipeline it runs and its timeout in minutes."""
    return {
        "preprocess_training_data": {
            "pipeline": "preprocessing",
            "timeout_minutes": PREPROCESSING_TIMEOUT_MINUTES,
        },
        **{
            f"train_{name}": {
                "pipeline": name,
                "timeout_minutes": int(recipe.ecs_timeout.total_seconds() // 60),
            }
            for name, recipe in RECIPES.items()
        },
    }


def _stage_entries(stages: dict[str, tuple[str, int]]) -> dict[str, dict[str, Any]]:
    return {
        task_id: {"pipeline": pipeline, "timeout_minutes": minutes}
        for task_id, (pipeline, minutes) in stages.items()
    }


def batch_dag_stages() -> dict[str, dict[str, Any]]:
    """The batch DAG's ECS tasks: task id -> the pipeline it runs and its timeout."""
    return _stage_entries(BATCH_STAGES)


def data_processing_dag_stages() -> dict[str, dict[str, Any]]:
    """``diab_data_processing``'s ECS stage: task id -> the pipeline it runs and its timeout."""
    return _stage_entries(DATA_PROCESSING_STAGES)


def _one_line_each(entries: dict[str, Any], indent: str) -> str:
    return ",\n".join(
        f"{indent}{json.dumps(key)}: {json.dumps(value)}"
        for key, value in entries.items()
    )


def generated() -> dict[Path, str]:
    """The content each file must have: JSON, one line per stage."""
    commands = stage_commands()
    return {
        STAGE_COMMANDS: (
            f'{{\n  "container": {json.dumps(commands["container"])},\n  "stages": {{\n'
            f"{_one_line_each(commands['stages'], '    ')}\n  }}\n}}\n"
        ),
        DAG_STAGES: f"{{\n{_one_line_each(dag_stages(), '  ')}\n}}\n",
        BATCH_DAG_STAGES: f"{{\n{_one_line_each(batch_dag_stages(), '  ')}\n}}\n",
        DATA_PROCESSING_DAG_STAGES: (
            f"{{\n{_one_line_each(data_processing_dag_stages(), '  ')}\n}}\n"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diab_readmit.ecs_stages",
        description="Write the ECS stage files from the algorithm recipes.",
    )
    parser.add_argument(
        "--check", action="store_true", help="only report files that are out of date"
    )
    args = parser.parse_args(argv)
    stale = [
        path
        for path, content in generated().items()
        if not path.exists() or path.read_text() != content
    ]
    if args.check:
        for path in stale:
            sys.stderr.write(
                f"{path} does not match the algorithm recipes: run "
                f"`python -m diab_readmit.ecs_stages` from the project root.\n"
            )
        return 1 if stale else 0
    for path, content in generated().items():
        if path in stale:
            path.write_text(content)
            sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
