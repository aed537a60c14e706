"""MLflow's own UI, served by ``mlflow server`` on 127.0.0.1 from the store a training run
wrote, as headless Chromium renders it: the run is listed, its metrics are shown, and each
registered model carries the ``champion`` alias on the registry's champion.

Needs the full MLflow in ``.venv-mlflow`` (``bash tools/ensure_mlflow_venv.sh``, which
``make test`` runs first) and Debian's ``chromium`` (``tools/ensure_chromium.sh``); without
either the test skips and says why.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from diab_readmit.algorithms import ALGORITHMS
from tests.conftest import PROJECT, headless

from .conftest import tracking_uri

pytestmark = pytest.mark.slow

MLFLOW = PROJECT / ".venv-mlflow" / "bin" / "mlflow"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mlflow_server(tracked_project, tmp_path) -> Iterator[str]:
    """``mlflow server`` on an ephemeral 127.0.0.1 port over the run's SQLite store."""
    if not MLFLOW.is_file():
        pytest.skip(
            f"{MLFLOW} is missing, so MLflow's UI was not checked: run "
            f"`bash tools/ensure_mlflow_venv.sh` (builds .venv-mlflow from tools/mlflow_ui.lock)"
        )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "mlflow-server.log").open("w")
    server = subprocess.Popen(
        [
            str(MLFLOW),
            "server",
            "--backend-store-uri",
            tracking_uri(tracked_project),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=tracked_project.path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    f"mlflow server did not answer on {url}/health:\n"
                    f"{(tmp_path / 'mlflow-server.log').read_text()[-4000:]}"
                )
            time.sleep(1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _rendered_text(chromium: str, profile: Path, url: str) -> str:
    """The page's text once its scripts ran (--dump-dom), tags and scripts removed."""
    dom = headless(chromium, profile, "--dump-dom", url)
    assert dom.returncode == 0, (
        f"chromium --dump-dom {url} failed:\n{dom.stderr[-3000:]}"
    )
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", dom.stdout, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def test_mlflow_ui_shows_the_run_its_metrics_and_the_champion_alias(
    tracked_project, mlflow_server, chromium, tmp_path
):
    client = MlflowClient(tracking_uri=tracking_uri(tracked_project))
    experiment = client.get_experiment_by_name("diab_readmit")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    base = f"{mlflow_server}/#/experiments/{experiment.experiment_id}"

    listing = _rendered_text(chromium, tmp_path / "p1", f"{base}/runs")
    assert "diab_readmit" in listing and parent.info.run_name in listing, listing[:3000]
    assert f"{len(runs)} matching runs" in listing, listing[:3000]

    xgboost = next(r for r in runs if r.data.tags.get("algorithm") == "xgboost")
    page = _rendered_text(
        chromium, tmp_path / "p2", f"{base}/runs/{xgboost.info.run_id}"
    )
    for metric in ("test_auc_roc", "oot_auc_roc", "test_auc_roc_ci_low", "cv_score"):
        shown = re.search(rf"\b{metric} (-?[0-9.]+)", page)
        assert shown, f"{metric} not on the run page:\n{page[:3000]}"
        assert float(shown.group(1)) == pytest.approx(xgboost.data.metrics[metric])

    registry = tracked_project.data / "06_models" / "model_registry"
    for algorithm in ALGORITHMS:
        champion = json.loads((registry / algorithm / "versions.json").read_text())[
            "champion"
        ]
        model = _rendered_text(
            chromium,
            tmp_path / f"p-{algorithm}",
            f"{mlflow_server}/#/models/diab_readmit-{algorithm}",
        )
        assert f"diab_readmit-{algorithm}" in model, model[:3000]
        # The version row: its registry id tag, then its alias.
        row = re.search(
            rf"registry_version_id : {champion} .*?@(?:&nbsp;|\s)?champion", model
        )
        assert row, (
            f"{algorithm}: champion {champion} without its alias:\n{model[:3000]}"
        )
