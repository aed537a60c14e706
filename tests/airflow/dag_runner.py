"""Runs inside .venv-airflow (Airflow 3 + the project; see tools/ensure_airflow_venv.sh), driven
by tests/airflow/test_diab_model_training.py. Not a test module itself.

    python dag_runner.py describe DAGS_FOLDER
        loads the folder with a real DagBag and prints the DAG's structure as JSON;
    python dag_runner.py run DAGS_FOLDER SCENARIOS_JSON
        for each scenario (a name and environment variables, e.g. AIRFLOW_VAR_* settings),
        runs the whole DAG once with ``dag.test()`` and prints the task states as JSON.

Output: one line per result, prefixed with ``RESULT `` so it stands out of Airflow's logs;
each scenario's logs are framed by ``=== SCENARIO <name> ===`` lines.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

DAG_ID = "diab_model_training"


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def describe(dags_folder: str) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder)
    result: dict = {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dag_ids": sorted(bag.dags),
        "tasks": {},
    }
    dag = bag.dags.get(DAG_ID)
    if dag is None:
        return result
    result["max_active_runs"] = dag.max_active_runs
    result["schedule"] = str(dag.schedule)
    for task in dag.tasks:
        entry = {
            "type": type(task).__name__,
            "upstream": sorted(task.upstream_task_ids),
            "downstream": sorted(task.downstream_task_ids),
            "execution_timeout": _seconds(task.execution_timeout),
            "retries": task.retries,
        }
        if entry["type"] == "EcsRunTaskOperator":
            entry.update(
                overrides=task.overrides,
                task_definition=task.task_definition,
                cluster=task.cluster,
                container_name=task.container_name,
                awslogs_group=task.awslogs_group,
                awslogs_stream_prefix=task.awslogs_stream_prefix,
                launch_type=task.launch_type,
                reattach=task.reattach,
                network_configuration=task.network_configuration,
            )
        else:
            callable_ = task.python_callable
            entry.update(
                callable=f"{callable_.__module__}.{callable_.__name__}",
                ignore_downstream_trigger_rules=task.ignore_downstream_trigger_rules,
            )
        result["tasks"][task.task_id] = entry
    return result


def run(dags_folder: str, scenarios: list[dict]) -> dict:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    dag = DagBag(dag_folder=dags_folder).dags[DAG_ID]
    results = {}
    for scenario in scenarios:
        os.environ.update(scenario["environment"])
        print(f"=== SCENARIO {scenario['name']} ===", flush=True)
        run = dag.test(run_conf={"scenario": scenario["name"]})
        print(f"=== END {scenario['name']} ===", flush=True)
        results[scenario["name"]] = {
            "state": str(run.state),
            "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()},
        }
        for name in scenario["environment"]:
            os.environ.pop(name, None)
    return results


if __name__ == "__main__":
    command, folder = sys.argv[1], sys.argv[2]
    if command == "describe":
        output = describe(folder)
    else:
        output = run(folder, json.loads(sys.argv[3]))
    print("RESULT " + json.dumps(output, default=str), flush=True)
