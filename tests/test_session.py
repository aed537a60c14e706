"""DiabReadmitSession's algorithm selection and FailureIsolatingRunner, on small pipelines,
and the whole default pipeline end to end on small synthetic data."""

from __future__ import annotations

import json
import logging
import re

import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from diab_readmit.errors import UserFixableError
from diab_readmit.parameter_models import ALGORITHMS
from diab_readmit.runner import (
    RUNS_AFTER_UPSTREAM_FAILURE,
    FailureIsolatingRunner,
    NodeFailuresError,
)
from diab_readmit.session import (
    AlgorithmSelectionError,
    DiabReadmitSession,
    UnknownPipelineError,
    check_pipeline_names,
    select_algorithms,
)
from diab_readmit.settings import SESSION_CLASS

ALL = list(ALGORITHMS)


def test_the_project_runs_with_the_selecting_session():
    assert SESSION_CLASS is DiabReadmitSession


@pytest.mark.parametrize(
    ("pipelines", "config", "algorithm", "expected"),
    [
        (["__default__"], {}, None, ALL),
        (
            ["training"],
            {"enabled_algorithms": {"xgboost": False}},
            None,
            ["logistic_regression", "random_forest"],
        ),
        (
            ["__default__"],
            {"enabled_algorithms": {"xgboost": False}},
            "xgboost",
            ["xgboost"],
        ),
        (["training"], {}, "random_forest", ["random_forest"]),
        (["training"], {}, " ", ALL),  # blank ALGORITHM counts as unset
        # A pipeline named after an algorithm always trains it: nothing to filter.
        (["xgboost"], {"enabled_algorithms": {"xgboost": False}}, None, None),
        (["xgboost"], {}, "xgboost", None),
        (["data_processing"], {}, None, None),
        (
            ["training", "xgboost"],
            {"enabled_algorithms": {"xgboost": False}},
            None,
            ALL,
        ),
    ],
)
def test_which_algorithms_a_run_trains(pipelines, config, algorithm, expected):
    assert select_algorithms(pipelines, config, algorithm) == expected


def test_selection_errors_name_the_problem_and_the_valid_names():
    with pytest.raises(
        AlgorithmSelectionError,
        match=r"ALGORITHM='svm' is not an algorithm .* \['logistic_regression', 'random_forest', 'xgboost'\]",
    ):
        select_algorithms(["__default__"], {}, "svm")
    with pytest.raises(AlgorithmSelectionError, match=r"ALGORITHM='svm'"):
        select_algorithms(["data_processing"], {}, "svm")  # validated even when unused
    with pytest.raises(
        AlgorithmSelectionError,
        match="ALGORITHM=xgboost conflicts with --pipelines random_forest",
    ):
        select_algorithms(["random_forest"], {}, "xgboost")
    with pytest.raises(
        AlgorithmSelectionError,
        match=r"unknown algorithm\(s\) \['svm'\]; valid names are",
    ):
        select_algorithms(["training"], {"enabled_algorithms": {"svm": True}}, None)
    disabled = {"enabled_algorithms": {name: False for name in ALGORITHMS}}
    with pytest.raises(AlgorithmSelectionError, match="No algorithm to train"):
        select_algorithms(["__default__"], disabled, None)


def test_an_unknown_pipeline_name_is_an_error_listing_the_valid_ones():
    check_pipeline_names(
        ["xgboost", "__default__"], ["__default__", "xgboost", "reporting"]
    )
    with pytest.raises(
        UnknownPipelineError,
        match=r"--pipelines nonexistent: no such pipeline\. Valid names are reporting, xgboost;",
    ):
        check_pipeline_names(
            ["xgboost", "nonexistent"], ["__default__", "xgboost", "reporting"]
        )


# ------------------------------------------------------------------------------------ the runner
def _identity(value):
    return value


def _fail(value):
    raise ValueError(f"bad value {value}")


def _collect(*values):
    return list(values)


def _branches(fail_in: set[str], tagged_report: bool = True) -> Pipeline:
    """Three namespaced branches a, b, c from one shared input, and a report over all."""
    branches = []
    for name in ("a", "b", "c"):
        template = Pipeline(
            [
                Node(
                    _fail if name in fail_in else _identity,
                    "source",
                    "fitted",
                    name="fit",
                ),
                Node(_identity, "fitted", "registered", name="register"),
            ]
        )
        branches.append(Pipeline(template, namespace=name, inputs={"source"}))
    report = Node(
        _collect,
        ["a.registered", "b.registered", "c.registered"],
        "report",
        name="report",
        tags=[RUNS_AFTER_UPSTREAM_FAILURE] if tagged_report else None,
    )
    return sum(branches, Pipeline([])) + Pipeline([report])


def _catalog(names=("a", "b", "c")) -> DataCatalog:
    datasets = {"source": MemoryDataset(1)}
    for name in names:
        # Like a registry: persisted outside the run, so a report can read earlier versions.
        datasets[f"{name}.registered"] = MemoryDataset(f"earlier {name}")
    return DataCatalog(datasets)


def test_runner_finishes_one_branch_before_the_next(caplog):
    caplog.set_level(logging.INFO)
    FailureIsolatingRunner().run(_branches(set()), _catalog())
    outputs = [
        re.search(r"-> \[([^\]]+)\]", r.getMessage()).group(1)
        for r in caplog.records
        if r.getMessage().startswith("Running node:")
    ]
    assert outputs == [
        "a.fitted",
        "a.registered",
        "b.fitted",
        "b.registered",
        "c.fitted",
        "c.registered",
        "report",
    ]


def test_one_failure_skips_only_its_dependants_and_is_reraised(caplog):
    caplog.set_level(logging.INFO)
    catalog = _catalog()
    with pytest.raises(ValueError, match="bad value 1"):
        FailureIsolatingRunner().run(_branches({"b"}), catalog)
    # a and c registered; b.register was skipped; the tagged report still ran, over what the
    # registries hold: b's earlier version.
    assert catalog.load("report") == [1, "earlier b", 1]
    summary = next(
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("Run summary")
    )
    assert "a: succeeded" in summary and "c: succeeded" in summary
    assert "b: FAILED (b.fit: ValueError: bad value 1)" in summary


def test_untagged_dependants_of_a_failure_are_skipped(caplog):
    caplog.set_level(logging.INFO)
    catalog = _catalog()
    with pytest.raises(ValueError):
        FailureIsolatingRunner().run(_branches({"a"}, tagged_report=False), catalog)
    assert "report" not in catalog or not catalog.exists("report")
    summary = next(
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("Run summary")
    )
    assert "(no namespace): SKIPPED (depends on failed a.fit)" in summary


def test_several_failures_are_reported_together():
    with pytest.raises(NodeFailuresError, match=r"2 node\(s\) failed") as raised:
        FailureIsolatingRunner().run(_branches({"a", "c"}), _catalog())
    message = str(raised.value)
    assert (
        "a: FAILED" in message and "c: FAILED" in message and "b: succeeded" in message
    )
    assert isinstance(raised.value.__cause__, ValueError)


def _fail_fixably(value):
    raise UserFixableError(f"fix value {value} in the config")


def test_a_user_fixable_failure_is_named_once_and_skips_quietly(caplog):
    caplog.set_level(logging.DEBUG)
    branches = []
    for name, func in (("a", _identity), ("b", _fail_fixably), ("c", _fail)):
        template = Pipeline(
            [
                Node(func, "source", "fitted", name="fit"),
                Node(_identity, "fitted", "registered", name="register"),
            ]
        )
        branches.append(Pipeline(template, namespace=name, inputs={"source"}))
    with pytest.raises(NodeFailuresError) as raised:
        FailureIsolatingRunner().run(sum(branches, Pipeline([])), _catalog())
    # The message is printed once, at the very end (hooks.ConciseUserErrors), so the log
    # only names the node; the unrelated ValueError keeps its line and skipped nodes.
    assert raised.value.errors[0].args == ("fix value 1 in the config",)
    warnings_and_errors = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    ]
    assert not any("fix value" in m for m in warnings_and_errors), warnings_and_errors
    summary = next(m for m in warnings_and_errors if m.startswith("Run summary"))
    assert "b: FAILED (b.fit: see the error below)" in summary
    assert "c: FAILED (c.fit: ValueError: bad value 1)" in summary
    assert not any(m.startswith("Skipping node b.") for m in warnings_and_errors)


def test_one_namespace_failing_fixably_logs_no_summary(caplog):
    caplog.set_level(logging.INFO)
    pipeline = Pipeline(
        [
            Node(_fail_fixably, "source", "fitted", name="fit"),
            Node(_identity, "fitted", "registered", name="register"),
        ]
    )
    with pytest.raises(UserFixableError):
        FailureIsolatingRunner().run(pipeline, _catalog())
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_the_session_swaps_only_the_default_runner(monkeypatch, tmp_path):
    """KedroSession.run receives a FailureIsolatingRunner instead of the CLI's SequentialRunner."""
    seen = {}

    def fake_run(self, **kwargs):
        seen.update(kwargs)
        return {}

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from tests.conftest import make_scratch_project

    monkeypatch.setattr(KedroSession, "run", fake_run)
    project = make_scratch_project(tmp_path / "project")
    bootstrap_project(project.path)
    with DiabReadmitSession.create(project.path) as session:
        session.run(pipeline_names=["data_processing"], runner=SequentialRunner())
    assert type(seen["runner"]) is FailureIsolatingRunner
    from kedro.runner import ThreadRunner

    with DiabReadmitSession.create(project.path) as session:
        session.run(pipeline_names=["data_processing"], runner=ThreadRunner())
    assert type(seen["runner"]) is ThreadRunner
    with DiabReadmitSession.create(
        project.path,
        runtime_params={
            "training_config": {"enabled_algorithms": {"random_forest": False}}
        },
    ) as session:
        session.run(pipeline_names=["training"])
    # The selection narrows KedroSession.run's own namespaces filter.
    from kedro.framework.project import pipelines

    kept = pipelines["training"].filter(node_namespaces=seen["namespaces"]).nodes
    assert kept and all(not n.name.startswith("random_forest.") for n in kept)
    assert any(n.name.startswith("xgboost.") for n in kept)


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_default_pipeline_end_to_end_on_small_synthetic_data(tmp_path):  # noqa: PLR0915 (one shared run, many checks)
    """raw (synthetic) -> gold -> snapshot -> three algorithms -> registry -> report."""
    from tests.conftest import make_scratch_project
    from tests.pipelines.training.conftest import (
        SMALL_ALGORITHMS,
        SMALL_TRAINING_CONFIG,
    )

    project = make_scratch_project(tmp_path / "project")
    (project.path / "conf" / "local" / "parameters_training.yml").write_text(
        yaml.safe_dump({"training_config": SMALL_TRAINING_CONFIG, **SMALL_ALGORITHMS})
    )
    project.run("--pipelines", "synthetic", "--params", "synthetic.n_encounters=4000")
    result = project.run(env={"COLUMNS": "80"})
    log = result.stdout + result.stderr
    registry = project.data / "06_models" / "model_registry"
    # Issue 25 item 3: demo data is recognisable, and every version says what it saw.
    raw = project.data / "01_raw"
    assert (raw / "diabetic_data.csv.provenance.json").exists()
    assert (raw / "new_encounters" / "2009-01.csv.provenance.json").exists()
    for algorithm in ALGORITHMS:
        index = json.loads((registry / algorithm / "versions.json").read_text())
        assert len(index["versions"]) == 1
        source = index["versions"][0]["raw_source"]
        assert source["demo"] is True and source["world"]["n_encounters"] == 4000
        assert (project.data / "08_reporting" / algorithm / "roc_curves.png").exists()
    report = (project.data / "08_reporting" / "model_comparison.md").read_text()
    assert all(algorithm in report for algorithm in ALGORITHMS)
    utility = report.split("## Clinical utility and operating points")[1]
    for algorithm in ALGORITHMS:
        assert f"| {algorithm} v" in utility.split("## Version history")[0]

    def index_of(algorithm: str) -> dict:
        return json.loads((registry / algorithm / "versions.json").read_text())

    # Issue 28: net benefit, operating points and smoothed calibration, in the HTML report,
    # every model card and the plots.
    html = (project.data / "08_reporting" / "model_comparison.html").read_text()
    for section in (
        "<h3>Clinical utility: net benefit (decision curve)</h3>",
        "<h3>Operating points by capacity</h3>",
        "<h3>Calibration (smoothed)</h3>",
    ):
        assert html.count(section) == len(ALGORITHMS), section
    for algorithm in ALGORITHMS:
        version = index_of(algorithm)["versions"][0]["id"]
        card = (registry / algorithm / version / "model_card.md").read_text()
        assert "## Clinical utility: net benefit" in card
        assert "## Operating points by capacity" in card
        assert "scaled Brier" in card
        assert (
            project.data / "08_reporting" / algorithm / "decision_curve.png"
        ).exists()

    # Issue 17: a log to read top to bottom. Plain lines, not rich's 80-column wrapping (each
    # record starts with its timestamp, or is the indented continuation of a summary), no
    # warning the project can fix or has explained away, and a closing summary.
    lines = log.splitlines()
    assert not [line for line in lines if line.startswith(" " * 10)], (
        "rich-wrapped lines:\n" + log[-3000:]
    )
    for noise in (
        "register_new_resolver",
        "contain '.' characters",
        "Workflow tracking is disabled",
        "A worker stopped",
        "Loading data from",
    ):
        assert noise not in log, f"{noise!r} in the run's output:\n{log[-3000:]}"
    summary = log[log.index("Pipeline execution completed successfully") :]
    assert "Registered 3 model versions:" in summary
    for algorithm in ALGORITHMS:
        assert re.search(
            rf"  {algorithm} v\d{{8}}_\d{{6}}  test ROC-AUC 0\.\d{{4}}  OOT ROC-AUC 0\.\d{{4}}  \S+/model_registry/{algorithm}/v",
            summary,
        ), summary
    assert re.search(
        r"Best model \(as in the report\): \w+ v\d{8}_\d{6}, test ROC-AUC 0\.\d{4}, OOT ROC-AUC 0\.\d{4}",
        summary,
    ), summary
    assert re.search(r"Report: \S+/08_reporting/model_comparison\.html", summary), (
        summary
    )

    # Issue 17 item 9: kedro-viz's run status is recorded for FailureIsolatingRunner's runs.
    events = json.loads(
        (project.path / ".viz" / "kedro_pipeline_events.json").read_text()
    )
    completed = {
        event["node"] for event in events if event["event"] == "after_node_run"
    }
    assert (
        events[0]["event"] == "before_pipeline_run"
        and events[-1]["event"] == "after_pipeline_run"
    )
    assert {f"{algorithm}.register_model" for algorithm in ALGORITHMS} <= completed

    # Issue 25 item 6: `make run` ends with `--pipelines batch`, and that with one short
    # summary: the champion, what was scored and flagged, the monitoring status with its
    # reasons, the pages to open (at 4,000 encounters the month is too small to judge).
    batch = project.run("--pipelines", "batch")
    tail = (batch.stdout + batch.stderr).strip().splitlines()
    start = next(
        i for i, line in enumerate(tail) if "Scoring with the champion" in line
    )
    assert re.search(
        r"Champions: logistic_regression v\d{8}_\d{6} \(test ROC-AUC 0\.\d{4}\), "
        r"random_forest v\d{8}_\d{6} .*, xgboost v",
        tail[start - 1],
    ), tail[start - 1]
    closing = tail[start:]
    assert len(closing) <= 10, "\n".join(tail[-30:])
    assert re.search(
        r"Scoring with the champion \w+ v\d{8}_\d{6} \(test ROC-AUC 0\.\d{4}\)$",
        closing[0],
    )
    assert re.fullmatch(
        r"Scored 2009-01\.csv: \d+ encounters, \d+ flagged \(\d+%\)", closing[1]
    ), closing
    assert re.fullmatch(r"Monitoring: (OK|WARN|ALERT)", closing[2]), closing
    assert closing[3].startswith("  2009-01: "), closing
    assert closing[-2].endswith("/08_reporting/monitoring/monitoring_report.html")
    assert closing[-1].endswith("/08_reporting/model_comparison.html"), closing
