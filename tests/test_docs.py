"""The README is what a newcomer reads in two minutes; the rest is a site that builds cleanly.

`mkdocs build --strict` fails on a broken link, an anchor that does not exist, or a page of
docs/ missing from the navigation (mkdocs.yml's ``validation``), so the docs cannot rot
silently. ``make test`` runs the same build before the tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import PROJECT

MKDOCS = Path(sys.executable).with_name("mkdocs")


def test_the_readme_is_short_and_links_only_to_pages_that_exist():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (PROJECT / target).is_file(), target


def test_the_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=PROJECT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("run-on-your-data", "promote-rollback", "query-the-stores", "monitor"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
