"""Fixtures shared by the whole suite.

``scratch_project`` is a copy of this project's configuration in a temporary directory with
its own empty ``data/``, so end-to-end tests run the real pipelines with the real catalog and
never touch the user's data. The package itself is imported from the installed project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")
UCI_ZIP = (
    PROJECT.parent / "shared" / "data" / "uci-diabetes-130" / "dataset_diabetes.zip"
)
DATA_LAYERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)


@dataclass
class ScratchProject:
    """A runnable copy of the project: ``run`` is ``kedro run`` in that directory."""

    path: Path

    @property
    def data(self) -> Path:
        return self.path / "data"

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: int = 600,
    ) -> subprocess.CompletedProcess:
        return self.kedro("run", *args, env=env, check=check, timeout=timeout)

    def kedro(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: int = 600,
    ) -> subprocess.CompletedProcess:
        # A developer's own ALGORITHM setting must not leak into the run under test.
        environment = {k: v for k, v in os.environ.items() if k != "ALGORITHM"}
        environment.update(
            {
                "KEDRO_DISABLE_TELEMETRY": "true",
                "NO_COLOR": "1",
                "COLUMNS": "250",
                **(env or {}),
            }
        )
        result = subprocess.run(
            [str(KEDRO), *args],
            cwd=self.path,
            env=environment,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"`kedro {' '.join(args)}` exited {result.returncode}:\n"
                f"{(result.stdout + result.stderr)[-8000:]}"
            )
        return result


def make_scratch_project(root: Path) -> ScratchProject:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "pyproject.toml", root)
    shutil.copytree(
        PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("credentials*")
    )
    (root / "conf" / "local").mkdir(exist_ok=True)
    # Kedro insists on a source dir; an empty one keeps imports on the installed package.
    (root / "src").mkdir()
    for layer in DATA_LAYERS:
        (root / "data" / layer).mkdir(parents=True, exist_ok=True)
    return ScratchProject(root)


@pytest.fixture
def scratch_project(tmp_path) -> ScratchProject:
    return make_scratch_project(tmp_path / "project")


@pytest.fixture(scope="session")
def uci_csv(tmp_path_factory) -> Path:
    """The real UCI file, unzipped once per session; skips (visibly) when it is absent."""
    if not UCI_ZIP.is_file():
        pytest.skip(f"real UCI data not found at {UCI_ZIP}: real-data tests skipped")
    target = tmp_path_factory.mktemp("uci")
    with zipfile.ZipFile(UCI_ZIP) as archive:
        name = next(n for n in archive.namelist() if n.endswith("diabetic_data.csv"))
        path = target / "diabetic_data.csv"
        path.write_bytes(archive.read(name))
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's headless Chromium, for the kedro-viz and report browser tests."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "Chromium is not installed, so pages were not checked in a browser: "
        "run `make browser` once (installs Debian's chromium; needs root or password-less sudo)"
    )


def headless(
    chromium: str, profile: Path, *args: str, window: str = "1600,1000"
) -> subprocess.CompletedProcess:
    """One headless Chromium command (``--dump-dom``, ``--screenshot=``, ``--print-to-pdf=``)."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={window}",
        "--virtual-time-budget=20000",
        *args,
    ]
    return subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=180
    )
