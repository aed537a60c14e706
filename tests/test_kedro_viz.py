"""kedro-viz on this project: the static build's API, and the page as a real browser renders it.

The browser half needs Debian's ``chromium`` (``make browser`` installs it once). Without it that test skips and says why; it never passes blind.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from diab_readmit.parameter_models import ALGORITHMS

from .conftest import headless, make_scratch_project

#: Modular pipelines a reader must be able to collapse and expand.
MODULAR_PIPELINES = ("preprocessing", *ALGORITHMS)
LAYERS = (
    "raw",
    "intermediate",
    "primary",
    "feature",
    "model_input",
    "models",
    "model_output",
    "reporting",
)
#: A node without name= gets Kedro's generated "func([inputs]) -> [outputs]".
GENERATED_NAME = re.compile(r"[()\[\]]|->")


@pytest.fixture(scope="module")
def viz_build(tmp_path_factory) -> Path:
    """``kedro viz build`` in a scratch copy of the project: it always writes ./build."""
    project = make_scratch_project(tmp_path_factory.mktemp("viz") / "project")
    result = project.kedro("viz", "build", check=False, timeout=300)
    output = result.stdout + result.stderr
    build = project.path / "build"
    # kedro viz build exits 0 even when it fails, so judge it by what it wrote.
    assert (
        result.returncode == 0
        and (build / "index.html").is_file()
        and "Failed" not in output
    ), f"`kedro viz build` failed (exit {result.returncode}):\n{output[-6000:]}"
    return build


@pytest.fixture(scope="module")
def viz_api(viz_build) -> dict:
    return json.loads((viz_build / "api" / "main").read_text())


def test_namespaces_are_modular_pipelines(viz_api):
    modular = viz_api["modular_pipelines"]

    for name in MODULAR_PIPELINES:
        assert name in modular, (
            f"'{name}' is not a modular pipeline in kedro-viz; found {sorted(modular)}"
        )
        assert modular[name]["children"], f"modular pipeline '{name}' is empty"


def test_every_dataset_sits_on_a_layer(viz_api):
    datasets = [node for node in viz_api["nodes"] if node["type"] == "data"]
    without_layer = sorted(node["name"] for node in datasets if not node.get("layer"))
    unknown = sorted(
        f"{n['name']}: {n['layer']}"
        for n in datasets
        if n.get("layer") and n["layer"] not in LAYERS
    )

    assert datasets
    assert not without_layer, (
        "datasets without `metadata: {kedro-viz: {layer: ...}}` in the catalog: "
        + ", ".join(without_layer)
    )
    assert not unknown, f"layers outside {LAYERS}: {unknown}"


def test_layers_are_drawn_in_data_flow_order(viz_api):
    # kedro-viz draws layer bands only if data flows one way between layers; one dataset
    # whose layer points back upstream makes it silently drop every band.
    used = {
        node["layer"]
        for node in viz_api["nodes"]
        if node["type"] == "data" and node.get("layer")
    }
    backwards = _layer_cycle_edges(viz_api)

    assert not backwards, (
        "kedro-viz shows no layers because data flows back and forth between them; move one side "
        "of each pair to another layer:\n" + "\n".join(backwards)
    )
    # kedro-viz lists the layers of every registered pipeline but orders them by the data
    # flow of __default__ only: a layer used only outside it (inference's model_output) has
    # no place there, so only the layers __default__ uses must be in order.
    assert used <= set(viz_api["layers"]) <= set(LAYERS)
    assert [layer for layer in viz_api["layers"] if layer in used] == [
        layer for layer in LAYERS if layer in used
    ], "layers out of the usual Kedro order"


def _layer_cycle_edges(viz_api: dict) -> list[str]:
    """Dataset -> dataset hops between layers that lie on a cycle of layers, as readable lines."""
    nodes = {node["id"]: node for node in viz_api["nodes"]}
    children: dict[str, set[str]] = {}
    for edge in viz_api["edges"]:
        children.setdefault(edge["source"], set()).add(edge["target"])

    def next_layered(node_id: str, seen: set[str]) -> set[str]:
        found = set()
        for child in children.get(node_id, ()):
            if child in seen:
                continue
            seen.add(child)
            if nodes[child]["type"] == "data" and nodes[child].get("layer"):
                found.add(child)
            else:
                found |= next_layered(child, seen)
        return found

    hops: dict[tuple[str, str], list[str]] = {}
    for node_id, node in nodes.items():
        if node["type"] != "data" or not node.get("layer"):
            continue
        for target in next_layered(node_id, set()):
            pair = (node["layer"], nodes[target]["layer"])
            if pair[0] != pair[1]:
                hops.setdefault(pair, []).append(
                    f"{node['name']} -> {nodes[target]['name']}"
                )

    def reaches(start: str, goal: str) -> bool:
        frontier, seen = [start], {start}
        while frontier:
            layer = frontier.pop()
            if layer == goal:
                return True
            for source, target in hops:
                if source == layer and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        return False

    return [
        f"  {source} -> {target}: {', '.join(sorted(examples)[:3])}"
        for (source, target), examples in sorted(hops.items())
        if reaches(target, source)
    ]


def test_every_node_has_a_readable_name(viz_api):
    tasks = [node for node in viz_api["nodes"] if node["type"] == "task"]
    generated = sorted(
        node["name"] for node in tasks if GENERATED_NAME.search(node["name"])
    )

    assert tasks
    assert not generated, (
        f"nodes without name= (Kedro made up these names): {generated}"
    )


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def served_build(viz_build) -> Iterator[str]:
    """The static build on an ephemeral 127.0.0.1 port, as `kedro viz run` would serve it."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(viz_build))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_browser_renders_the_algorithm_namespaces(chromium, served_build, tmp_path):
    dom = headless(chromium, tmp_path / "profile-dom", "--dump-dom", served_build)
    assert dom.returncode == 0, f"chromium --dump-dom failed:\n{dom.stderr[-3000:]}"

    rendered = set(
        re.findall(
            r'<g[^>]*class="pipeline-node pipeline-node--modularPipeline"[^>]*data-id="([^"]+)"',
            dom.stdout,
        )
    )
    for name in MODULAR_PIPELINES:
        assert name in rendered, (
            f"the kedro-viz flowchart does not show modular pipeline '{name}'; it shows {sorted(rendered)}"
        )

    # With the modular pipelines collapsed, the shared datasets show these layer bands.
    bands = set(
        re.findall(
            r'class="pipeline-layer-name" data-id="layer-label--([^"]+)"', dom.stdout
        )
    )
    expected_bands = {"raw", "feature", "model_input", "models", "reporting"}
    assert expected_bands <= bands, (
        f"layer bands drawn: {sorted(bands)}; expected at least {sorted(expected_bands)}"
    )

    screenshot = tmp_path / "viz.png"
    shot = headless(
        chromium, tmp_path / "profile-shot", f"--screenshot={screenshot}", served_build
    )
    assert shot.returncode == 0 and screenshot.is_file(), (
        f"chromium --screenshot failed:\n{shot.stderr[-3000:]}"
    )
    # A blank dark page is ~10 kB; the drawn flowchart and sidebar are several times that.
    assert screenshot.stat().st_size > 50_000, f"screenshot {screenshot} looks blank"


def test_run_status_is_recorded_for_the_failure_isolating_runner(tmp_path):
    """kedro-viz's "Workflow run status" after a run with a failure, as FailureIsolatingRunner runs it."""
    project = make_scratch_project(tmp_path / "project")
    # No gold stores yet: check_model_config passes, check_gold_data_exists fails.
    run = project.run("--pipelines", "preprocessing", check=False)
    assert run.returncode != 0
    assert "Workflow tracking is disabled" not in run.stdout + run.stderr
    built = project.kedro("viz", "build", check=False, timeout=300)
    status = json.loads((project.path / "build" / "api" / "run-status").read_text())

    assert built.returncode == 0, built.stdout + built.stderr
    by_status: dict[str, list] = {}
    for node in status["nodes"].values():
        by_status.setdefault(node["status"], []).append(node)
    assert len(by_status.get("success", [])) >= 1, status
    # Both prerequisite checks fail and both are recorded: failure isolation ran the second
    # check after the first failed (Kedro's SequentialRunner would have stopped there).
    messages = sorted(node["error"]["message"] for node in by_status.get("failed", []))
    assert [m.split(":")[0] for m in messages] == [
        "Gold data is missing",
        "Not enough training data",
    ], status
