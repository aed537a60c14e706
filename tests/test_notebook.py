"""notebooks/explore_registry.ipynb runs top to bottom on a project the real pipelines filled.

A scratch copy of the project gets small synthetic data, then the whole default run
(data_processing -> preprocessing -> the three trainings -> reporting) with a tiny search, so
the notebook meets every dataset it reads: gold stores, a snapshot, registries, the report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from diab_readmit.parameter_models import ALGORITHMS

from .conftest import PROJECT, ScratchProject, make_scratch_project

NOTEBOOK = PROJECT / "notebooks" / "explore_registry.ipynb"
#: Small enough to keep the whole module well under a minute on two cores.
FAST = "training_config.cv_folds=2,training_config.n_candidates=3"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def filled_project(tmp_path_factory) -> ScratchProject:
    project = make_scratch_project(tmp_path_factory.mktemp("notebook") / "project")
    project.run("--pipelines", "synthetic", "--params", "synthetic.n_encounters=3000")
    project.run("--params", FAST)
    return project


#: The metrics the project's report shows (conf/base/parameters_reporting.yml).
SHOWN_METRICS = yaml.safe_load(
    (PROJECT / "conf" / "base" / "parameters_reporting.yml").read_text()
)["reporting"]["report"]["metrics"]


def test_default_run_ends_with_the_comparison_report(filled_project):
    reporting = filled_project.data / "08_reporting"
    markdown = (reporting / "model_comparison.md").read_text()
    page = (reporting / "model_comparison.html").read_text()

    registry = filled_project.data / "06_models" / "model_registry"
    for algorithm in ALGORITHMS:
        metadata = json.loads(
            (registry / algorithm / "latest" / "metadata.json").read_text()
        )
        row = next(
            line
            for line in markdown.splitlines()
            if line.startswith("|")
            and algorithm in line
            and metadata["version_id"] in line
        )
        for window in ("test", "oot"):
            for metric in SHOWN_METRICS:
                value = f"{metadata['performance'][window][metric]:.4f}"
                assert value in row, (
                    f"{algorithm} {window} {metric} {value} missing from: {row}"
                )
        # The training run's evaluation plots, embedded from the registry version.
        section = re.search(rf"<h3>{algorithm}</h3>(.*?)(?=<h[23]>)", page, re.S).group(
            1
        )
        assert section.count("data:image/png;base64,") == len(metadata["plots"]) >= 5
    assert markdown.count("(best)") == 1
    assert 'src="http' not in page


def test_notebook_executes(filled_project):
    notebooks = filled_project.path / "notebooks"
    notebooks.mkdir()
    shutil.copy(NOTEBOOK, notebooks)
    notebook = nbformat.read(notebooks / NOTEBOOK.name, as_version=4)

    # Any failing cell raises CellExecutionError naming the cell and the traceback.
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebooks)}},
    ).execute()

    outputs = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    ]
    text = "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "")
        for output in outputs
    )
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 2, (
        "the monthly readmission plot and the model plots should be drawn"
    )
    assert "readmitted within 30 days" in text
    assert f"registered: {', '.join(ALGORITHMS)}" in text
    assert "ROC-AUC from gold rows" in text
    assert not [output for output in outputs if output.output_type == "error"]


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)

    assert notebook.cells[1].source.strip() == "%load_ext kedro.ipython"
    assert not [
        cell for cell in notebook.cells if cell.cell_type == "code" and cell.outputs
    ]


def test_make_notebook_serves_the_notebook_in_jupyterlab_with_the_project_kernel(
    tmp_path,
):
    """Issue 25 item 10: the documented way to open the notebook works from a fresh clone
    (`make notebook`: JupyterLab is a dev dependency, the kernel is Kedro's)."""
    environment = {
        **os.environ,
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "KEDRO_DISABLE_TELEMETRY": "true",
    }
    server = subprocess.Popen(
        [
            "make",
            "-s",
            "notebook",
            "JUPYTER_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=0 "
            "--IdentityProvider.token=",
        ],
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        address, seen = None, []
        deadline = time.monotonic() + 120
        while address is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            seen.append(line)
            address = re.search(r"(http://127\.0\.0\.1:\d+)/lab", line)
        assert address, "JupyterLab did not start:\n" + "".join(seen[-30:])
        base = address.group(1)
        local = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        kernels = None
        for _ in range(30):  # the address is printed a moment before it accepts
            try:
                with local.open(f"{base}/api/kernelspecs", timeout=30) as answer:
                    kernels = json.load(answer)
                break
            except urllib.error.URLError:
                time.sleep(1)
        assert kernels and kernels["default"] == "kedro_diab_readmit", kernels
        with urllib.request.urlopen(
            f"{base}/api/contents/explore_registry.ipynb?content=0",
            timeout=30,
        ) as answer:
            assert json.load(answer)["type"] == "notebook"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
