"""Every documented mistake, made for real (`kedro run` in a scratch project): its error is
printed once, in at most 3 lines, without a traceback, and the command exits non-zero.

One empty scratch project serves every case (nothing here writes data), so the cost is one
Kedro start-up (~4 s) per mistake.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import make_scratch_project

#: A log line (timestamp, level); the error block is what is not one.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|DEBUG) ")

MISTAKES = {
    "mistyped pipeline": (
        ["--pipelines", "dataprocessing"],
        {},
        "Valid names are batch, data_processing, inference, logistic_regression",
    ),
    "mistyped parameter key": (
        ["--pipelines", "preprocessing", "--params", "temporal_split.test.end_date=2007-06-30"],
        {},
        "did you mean temporal_splits.test.end_date?",
    ),
    "location that cannot move the file": (
        ["--pipelines", "data_processing", "--params",
         "raw_encounters_location=data/01_raw/no_such_file.csv"],
        {},
        "raw_encounters_location=data/01_raw/no_such_file.csv cannot take effect",
    ),
    "invalid parameter value": (
        ["--pipelines", "synthetic", "--params", "synthetic.n_encounters=5"],
        {},
        "parameter synthetic.n_encounters: n_encounters=5 is outside the supported range",
    ),
    "unknown ALGORITHM": ([], {"ALGORITHM": "xgb"}, "ALGORITHM='xgb' is not an algorithm"),
    "no raw file": (
        ["--pipelines", "data_processing"],
        {},
        "or run `make run` to generate demo data first",
    ),
    "no champion to score with": (
        ["--pipelines", "inference"],
        {},
        "No algorithm has a champion in the model registry",
    ),
    "nothing scored to monitor": (
        ["--pipelines", "monitoring"],
        {},
        "Run `kedro run --pipelines inference` first",
    ),
    "promote a version that is not registered": (
        ["--pipelines", "promote", "--params",
         "promote.algorithm=xgboost,promote.version=v20990101_000000,promote.reason=test"],
        {},
        "No version of 'xgboost' is registered",
    ),
    "promote something that is not a version id": (
        ["--pipelines", "promote", "--params",
         "promote.algorithm=xgboost,promote.version=v1,promote.reason=test"],
        {},
        "parameter promote.version: 'v1' is not a version id",
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = make_scratch_project(tmp_path_factory.mktemp("mistakes") / "project")
    # An empty new extract: the inference case reports it beside the missing champion.
    (project.data / "01_raw" / "new_encounters").mkdir()
    (project.data / "01_raw" / "new_encounters" / "2009-01.csv").write_bytes(b"")
    return project


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_is_said_once_in_three_lines_and_exits_non_zero(project, mistake):
    args, env, expected = MISTAKES[mistake]
    result = project.run(*args, env=env, check=False, timeout=120)
    output = result.stdout + result.stderr

    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert output.count(expected) == 1, output
    error_block = [line for line in output.splitlines() if not LOG_LINE.match(line)]
    assert 1 <= len(error_block) <= 3, output
    assert error_block[-1] == "(set DIAB_READMIT_TRACEBACK=1 to see the traceback)"
    assert "pydantic.dev" not in output and "[type=" not in output, output


def test_an_empty_extract_is_named_without_the_raw_files_setting(project):
    result = project.run("--pipelines", "inference", check=False, timeout=120)
    output = result.stdout + result.stderr

    assert "2009-01.csv is empty (0 bytes)" in output, output
    assert "paths.raw_encounters" not in output, output


def test_the_traceback_is_there_when_asked_for(project):
    result = project.run(
        "--pipelines",
        "data_processing",
        env={"DIAB_READMIT_TRACEBACK": "1"},
        check=False,
        timeout=120,
    )
    output = result.stdout + result.stderr

    assert result.returncode != 0
    assert "Traceback (most recent call last)" in output, output
    assert "No raw file at" in output
