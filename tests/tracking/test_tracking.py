"""Every kedro run is an MLflow run, and MLflow's model registry follows the project's.

Real runs through the CLI (``kedro run``) in scratch projects, read back with MLflow's own
client from the SQLite store the runs wrote: nothing is mocked.
"""

from __future__ import annotations

import json
import socket
import time

import mlflow
import pytest
from mlflow import MlflowClient

from diab_readmit.algorithms import ALGORITHMS
from diab_readmit.datasets.model_registry import ModelRegistryDataset

from .conftest import small_training_project, tracking_uri

pytestmark = pytest.mark.slow


def _versions(project, algorithm: str) -> dict:
    path = project.data / "06_models" / "model_registry" / algorithm / "versions.json"
    return json.loads(path.read_text())


def _client(project) -> MlflowClient:
    # models:/ URIs resolve through the process-wide tracking URI.
    mlflow.set_tracking_uri(tracking_uri(project))
    return MlflowClient(tracking_uri=tracking_uri(project))


def _mlflow_champion(client: MlflowClient, algorithm: str) -> str:
    """The registry version id the MLflow alias `champion` names."""
    version = client.get_model_version_by_alias(f"diab_readmit-{algorithm}", "champion")
    return version.tags["registry_version_id"]


def test_a_training_run_is_recorded_with_nested_runs_and_mirrored_models(
    tracked_project,
):
    client = _client(tracked_project)
    experiment = client.get_experiment_by_name("diab_readmit")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.data.tags["kedro.pipeline"] == "training"
    assert parent.info.status == "FINISHED"
    assert parent.data.params["training_config.calibration.method"]
    assert parent.data.params["temporal_splits.test.start_date"]
    children = {
        r.data.tags["algorithm"]: r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert set(children) == set(ALGORITHMS)

    for algorithm, run in children.items():
        index = _versions(tracked_project, algorithm)
        (entry,) = index["versions"]
        metrics, tags = run.data.metrics, run.data.tags
        assert run.info.status == "FINISHED"
        assert metrics["test_auc_roc"] == pytest.approx(entry["test_auc_roc"])
        assert metrics["oot_auc_roc"] == pytest.approx(entry["oot_auc_roc"])
        for window in ("test", "oot"):
            for metric in ("auc_roc", "pr_auc", "brier"):
                low = metrics[f"{window}_{metric}_ci_low"]
                high = metrics[f"{window}_{metric}_ci_high"]
                assert low < high, (algorithm, window, metric)
        assert "cv_score" in metrics and "search.method" in run.data.params
        assert tags["snapshot_id"] == entry["snapshot_id"]
        assert tags["registry_version_id"] == entry["id"]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"model_card.md", "plots", "search_candidates.json"} <= artifacts
        plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert "plots/roc_curves.png" in plots
        card = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/model_card.md")
        assert f"# Model card: {algorithm} {entry['id']}" in card
        assert entry["sha256"] in card
        candidates = mlflow.artifacts.load_dict(
            f"{run.info.artifact_uri}/search_candidates.json"
        )
        assert "mean_test_score" in candidates["columns"] and candidates["data"]

        # The registered model mirrors the registry version, with its sha256 and signature.
        name = f"diab_readmit-{algorithm}"
        (version,) = client.search_model_versions(f"name = '{name}'")
        assert version.tags["registry_version_id"] == entry["id"]
        assert version.tags["sha256"] == entry["sha256"]
        assert version.run_id == run.info.run_id
        assert _mlflow_champion(client, algorithm) == index["champion"] == entry["id"]
        registered = ModelRegistryDataset(
            path=str(tracked_project.data / "06_models" / "model_registry" / algorithm)
        ).load()["model"]
        signature = mlflow.models.get_model_info(f"models:/{name}@champion").signature
        assert signature.inputs.input_names() == list(registered.feature_names_in_)


def test_promote_and_rollback_move_the_champion_alias(tmp_path):
    project = small_training_project(tmp_path / "project")
    project.run("--pipelines", "logistic_regression")
    # The same data and seed: the second model equals the first, so the gate promotes it.
    project.run("--pipelines", "logistic_regression")
    client = _client(project)
    first, second = (
        v["id"] for v in _versions(project, "logistic_regression")["versions"]
    )
    assert _versions(project, "logistic_regression")["champion"] == second
    assert _mlflow_champion(client, "logistic_regression") == second

    for target, reason in ((first, "rollback"), (second, "roll forward")):
        project.run(
            "--pipelines",
            "promote",
            "--params",
            f"promote.algorithm=logistic_regression,promote.version={target},"
            f'promote.reason="{reason}"',
        )
        index = _versions(project, "logistic_regression")
        assert index["champion"] == target
        assert _mlflow_champion(client, "logistic_regression") == target
        statuses = {
            v.tags["registry_version_id"]: v.tags["status"]
            for v in client.search_model_versions(
                "name = 'diab_readmit-logistic_regression'"
            )
        }
        assert statuses == {v["id"]: v["status"] for v in index["versions"]}
    promote_runs = client.search_runs(
        [client.get_experiment_by_name("diab_readmit").experiment_id],
        filter_string="tags.`kedro.pipeline` = 'promote'",
    )
    assert len(promote_runs) == 2


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_server_is_one_warning_and_the_next_run_catches_up(tmp_path):
    project = small_training_project(tmp_path / "project")
    server = f"http://127.0.0.1:{_closed_port()}"
    local = project.path / "conf" / "local" / "tracking.yml"
    local.write_text(f"tracking:\n  uri: {server}\n  server_timeout_seconds: 2\n")
    started = time.monotonic()
    result = project.run("--pipelines", "logistic_regression")
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if "MLflow tracking at" in line]
    assert len(warnings) == 1, output[-4000:]
    assert server in warnings[0] and "registered as usual" in warnings[0]
    (entry,) = _versions(project, "logistic_regression")["versions"]
    assert entry["status"] == "champion"
    assert elapsed < 120, f"an unreachable server held the run for {elapsed:.0f} s"
    assert not (project.data / "09_tracking").exists()

    # Back on the default store, the next run that touches the registry mirrors it.
    local.unlink()
    project.run(
        "--pipelines",
        "promote",
        "--params",
        f"promote.algorithm=logistic_regression,promote.version={entry['id']},"
        'promote.reason="re-affirm after an outage"',
    )
    client = _client(project)
    assert _mlflow_champion(client, "logistic_regression") == entry["id"]


def test_tracking_off_leaves_no_store_and_the_registry_works(tmp_path):
    project = small_training_project(tmp_path / "project")
    project.run("--pipelines", "random_forest", env={"DIAB_TRACKING": "off"})
    assert _versions(project, "random_forest")["champion"] is not None
    assert not (project.data / "09_tracking").exists()
