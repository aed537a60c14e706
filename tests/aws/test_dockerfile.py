"""The Dockerfile and .dockerignore, checked statically: no Docker engine runs on the
developers' machines or in CI, so the image is never built here. What a build would get wrong
first is checked instead: the base image, installing from the lock only, a non-root user,
telemetry off, the `kedro run` entrypoint, and a build context that lets the project in and
keeps data, credentials, notebooks and venvs out (Docker's own .dockerignore rules).
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from tests.conftest import PROJECT

DOCKERFILE = PROJECT / "Dockerfile"
DOCKERIGNORE = PROJECT / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for raw_line in joined.splitlines():
        line = raw_line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def all_of(keyword: str) -> list[str]:
    return [arguments for name, arguments in instructions() if name == keyword]


def env_settings() -> dict[str, str]:
    settings = {}
    for arguments in all_of("ENV"):
        for item in shlex.split(arguments):
            key, _, value = item.partition("=")
            settings[key] = value
    return settings


def test_base_image_is_a_slim_python_311_or_newer():
    (base,) = all_of("FROM")
    match = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", base)
    assert match and int(match.group(1)) >= 11, base


def test_dependencies_come_from_the_lock_and_the_project_adds_none():
    steps = instructions()
    copy_lock = steps.index(("COPY", "requirements.lock ./"))
    installs = [
        (i, args)
        for i, (name, args) in enumerate(steps)
        if name == "RUN" and "pip install" in args
    ]
    assert installs[0][0] > copy_lock
    assert "-r requirements.lock" in installs[0][1]
    for _, command in installs[1:]:
        assert "--no-deps" in command, (
            f"only the lock may bring dependencies: {command}"
        )


def test_runs_as_a_non_root_user():
    users = all_of("USER")
    assert users, "the image must switch to a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert instructions().index(("USER", users[-1])) > max(
        i for i, (name, _) in enumerate(instructions()) if name == "RUN"
    ), "nothing may run as root after the USER switch"


def test_telemetry_is_off_and_no_credentials_are_baked_in():
    settings = env_settings()
    assert settings.get("KEDRO_DISABLE_TELEMETRY") == "true"
    assert not [key for key in settings if key.startswith("AWS_")], settings


def test_entrypoint_is_kedro_run_so_an_ecs_command_override_picks_the_stage():
    (entrypoint,) = all_of("ENTRYPOINT")
    assert json.loads(entrypoint) == ["kedro", "run"]
    # a bare `docker run` must not start a pipeline against real buckets
    assert json.loads(all_of("CMD")[-1]) == ["--help"]


# --- .dockerignore, with Docker's matching rules ---------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    """Go's filepath.Match plus `**`, as Docker's patternmatcher compiles a pattern."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out = out[:-2] + "(.*/)?"
                i += 1
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_rules() -> list[tuple[bool, re.Pattern]]:
    rules = []
    for raw_line in DOCKERIGNORE.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((include, _pattern_regex(pattern)))
    return rules


def sent_to_docker(path: str) -> bool:
    """Whether `docker build .` sends ``path`` (relative to the project) to the builder:
    the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for include, regex in dockerignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not include
    return not excluded


@pytest.mark.parametrize(
    "path",
    [
        "requirements.lock",
        "pyproject.toml",
        "README.md",
        "src/diab_readmit/settings.py",
        "src/diab_readmit/pipelines/training/pipeline.py",
        "conf/base/catalog.yml",
        "conf/base/globals.yml",
        "conf/aws/globals.yml",
    ],
)
def test_the_project_is_in_the_build_context(path):
    assert sent_to_docker(path)


@pytest.mark.parametrize(
    "path",
    [
        "data/01_raw/diabetic_data.csv",
        "data/04_feature/feature_store/_manifest.json",
        "notebooks/exploration.ipynb",
        ".venv/bin/python",
        ".venv-airflow/bin/airflow",
        ".git/config",
        "conf/local/credentials.yml",
        "conf/aws/credentials.yml",
        "src/diab_readmit/__pycache__/settings.cpython-311.pyc",
        "tests/conftest.py",
        ".env",
        "airflow/dags/diab_model_training.py",
        "src/diab_readmit.egg-info/PKG-INFO",
    ],
)
def test_data_credentials_notebooks_and_venvs_stay_out(path):
    assert not sent_to_docker(path)


def test_every_copied_source_exists_and_is_in_the_build_context():
    for arguments in all_of("COPY"):
        *sources, _target = shlex.split(arguments)
        for source in sources:
            assert (PROJECT / source).exists(), source
            assert sent_to_docker(source.rstrip("/")), (
                f"COPY {source}: excluded by .dockerignore"
            )


def test_the_image_has_the_dask_cli_the_dask_task_definition_runs():
    """deploy/ecs/diab-readmit-demo-dask.json overrides the entrypoint with ``dask``: the
    lock (all the image installs) must bring the ``dask`` script and distributed's
    ``scheduler`` and ``worker`` commands, at the versions the Kedro client runs."""
    from importlib.metadata import entry_points, version

    lock = (PROJECT / "requirements.lock").read_text()
    for package in ("dask", "distributed"):
        assert f"\n{package}=={version(package)}\n" in lock, package
    (script,) = entry_points(group="console_scripts", name="dask")
    assert script.dist.name == "dask"
    commands = {e.name: e.dist.name for e in entry_points(group="dask_cli")}
    assert commands.get("scheduler") == commands.get("worker") == "distributed"
