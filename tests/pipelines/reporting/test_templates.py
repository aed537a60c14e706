"""The report templates: shipped with the package, every section on the page, strict."""

from __future__ import annotations

import re
import tomllib

import jinja2
import pytest

from diab_readmit.errors import UserFixableError
from diab_readmit.pipelines.reporting import rendering
from diab_readmit.pipelines.reporting.nodes import (
    ReportSettings,
    tabulate_latest_versions,
)
from tests.aws.test_dockerfile import sent_to_docker
from tests.conftest import PROJECT

from .conftest import make_history

TEMPLATES = PROJECT / "src" / "diab_readmit" / "pipelines" / "reporting" / "templates"


def test_every_template_file_ships_in_the_wheel_and_the_docker_image():
    package_data = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]["package-data"]["diab_readmit.pipelines.reporting"]
    package = TEMPLATES.parent
    files = [path for path in TEMPLATES.rglob("*") if path.is_file()]
    shipped = {
        path
        for pattern in package_data
        for path in package.glob(pattern)
        if path.is_file()
    }

    assert files and set(files) <= shipped, sorted(set(files) - shipped)
    for path in files:
        assert sent_to_docker(path.relative_to(PROJECT).as_posix()), path


def test_every_section_template_is_on_the_page():
    page = (TEMPLATES / "report.html.j2").read_text()
    included = set(re.findall(r'{%\s*include\s+"(sections/[^"]+)"', page))
    sections = {
        path.relative_to(TEMPLATES).as_posix()
        for path in (TEMPLATES / "sections").glob("*.html.j2")
    }
    assert sections == included


def test_html_templates_escape_and_markdown_does_not():
    assert rendering._TEMPLATES.autoescape("report.html.j2")
    assert not rendering._TEMPLATES.autoescape("report.md.j2")
    summary = {
        "title": "<b>&</b>",
        "best_model": "b",
        "comparability_note": None,
        "selection_rule": "r",
        "rejections": ["<i>gate</i>"],
    }
    page = rendering.render("sections/summary.html.j2", summary)
    assert page.startswith("<h1>&lt;b&gt;&amp;&lt;/b&gt;</h1>")
    assert "&lt;i&gt;gate&lt;/i&gt;" in page


def test_a_name_missing_from_the_context_is_an_error_not_an_empty_cell():
    with pytest.raises(jinja2.UndefinedError, match="best_model"):
        rendering.render("sections/summary.html.j2", {"title": "t"})


def test_unreadable_registry_views_are_user_fixable_errors():
    broken = make_history("xgboost", [0.6])
    del broken["latest"]["performance"]

    with pytest.raises(UserFixableError, match="kedro run --pipelines xgboost"):
        tabulate_latest_versions(ReportSettings(), broken)
    with pytest.raises(UserFixableError, match="'algorithm' key"):
        tabulate_latest_versions(ReportSettings(), {"latest": None})
