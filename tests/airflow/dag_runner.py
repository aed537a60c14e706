"""Runs inside .venv-airflow (Airflow 3 + the project; see tools/ensure_airflow_venv.sh), driven
by tests/airflow/test_diab_model_training.py. Not a test module itself.

    python dag_runner.py describe DAGS_FOLDER [DAG_ID]
        loads the folder with a real DagBag and prints the DAG's structure as JSON;
    python dag_runner.py run DAGS_FOLDER SCENARIOS_JSON [DAG_ID]
        for each scenario (a name and environment variables, e.g. AIRFLOW_VAR_* settings),
        runs the whole DAG once with ``dag.test()`` and prints the task states as JSON, the
        XComs the tasks returned, and the runs of other DAGs it triggered. A scenario's
        ``retry_delay_seconds`` replaces every task's retry delay for that run (a test of a
        failing task must not wait minutes for its retry).

DAG_ID defaults to ``diab_model_training``.

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


def _dag_bag(dags_folder: str):
    """The folder as Airflow 3's DAG processor loads its bundle: on ``sys.path``, so a DAG
    imports the helpers beside it (diab_ecs.py)."""
    from pathlib import Path

    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=dags_folder, bundle_path=Path(dags_folder))


def describe(dags_folder: str, dag_id: str = DAG_ID) -> dict:
    bag = _dag_bag(dags_folder)
    result: dict = {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dag_ids": sorted(bag.dags),
        "tasks": {},
    }
    dag = bag.dags.get(dag_id)
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
            "is_setup": task.is_setup,
            "is_teardown": task.is_teardown,
            "trigger_rule": getattr(task.trigger_rule, "value", task.trigger_rule),
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
        elif hasattr(task, "python_callable"):
            callable_ = task.python_callable
            entry.update(
                callable=f"{callable_.__module__}.{callable_.__name__}",
                ignore_downstream_trigger_rules=getattr(
                    task, "ignore_downstream_trigger_rules", None
                ),
            )
        elif hasattr(task, "trigger_dag_id"):
            entry.update(
                trigger_dag_id=task.trigger_dag_id,
                wait_for_completion=task.wait_for_completion,
            )
        result["tasks"][task.task_id] = entry
    return result


def _triggered(dag_id: str) -> list[dict]:
    """Runs of ``dag_id`` that exist now (what a TriggerDagRunOperator created)."""
    from airflow.models import DagRun

    return [
        {"run_id": run.run_id, "state": str(run.state), "conf": run.conf}
        for run in DagRun.find(dag_id=dag_id)
    ]


def run(dags_folder: str, scenarios: list[dict], dag_id: str = DAG_ID) -> dict:
    from airflow.utils import db

    db.initdb()
    bag = _dag_bag(dags_folder)
    dag = bag.dags[dag_id]
    others = sorted(set(bag.dags) - {dag_id})
    results = {}
    for scenario in scenarios:
        os.environ.update(scenario["environment"])
        delays = {task.task_id: task.retry_delay for task in dag.tasks}
        if "retry_delay_seconds" in scenario:
            for task in dag.tasks:
                task.retry_delay = timedelta(seconds=scenario["retry_delay_seconds"])
        print(f"=== SCENARIO {scenario['name']} ===", flush=True)
        run = dag.test(run_conf={"scenario": scenario["name"]})
        print(f"=== END {scenario['name']} ===", flush=True)
        for task in dag.tasks:
            task.retry_delay = delays[task.task_id]
        instances = run.get_task_instances()
        results[scenario["name"]] = {
            "state": str(run.state),
            "run_id": run.run_id,
            "tasks": {ti.task_id: str(ti.state) for ti in instances},
            "tries": {ti.task_id: ti.try_number for ti in instances},
            "xcom": {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in instances},
            "triggered": {other: _triggered(other) for other in others},
        }
        for name in scenario["environment"]:
            os.environ.pop(name, None)
    return results


if __name__ == "__main__":
    command, folder = sys.argv[1], sys.argv[2]
    if command == "describe":
        output = describe(folder, *sys.argv[3:4])
    else:
        output = run(folder, json.loads(sys.argv[3]), *sys.argv[4:5])
    print("RESULT " + json.dumps(output, default=str), flush=True)
