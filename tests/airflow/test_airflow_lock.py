"""airflow/requirements.lock is the project's runtime lock plus Airflow: the DAG's checks run
the project on the Airflow worker, so both must see the same versions of everything the
project uses. Only fastapi may differ (Airflow 3.3 bounds it below kedro-viz's pick)."""

from __future__ import annotations

import re

from tests.conftest import PROJECT

ALLOWED_TO_DIFFER = {"fastapi"}


def pins(path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return found


def test_airflow_lock_pins_the_project_runtime_at_the_same_versions():
    project = pins(PROJECT / "requirements.lock")
    airflow = pins(PROJECT / "airflow" / "requirements.lock")
    assert project, "requirements.lock has no pins"
    drift = {
        name: (version, airflow.get(name))
        for name, version in project.items()
        if name not in ALLOWED_TO_DIFFER and airflow.get(name) != version
    }
    assert not drift, (
        f"airflow/requirements.lock differs from requirements.lock (project, airflow): {drift}. "
        f"Re-pin it with `tools/ensure_airflow_venv.sh --lock`."
    )
    assert airflow.get("apache-airflow", "").startswith("3.")
    assert "apache-airflow-providers-amazon" in airflow
