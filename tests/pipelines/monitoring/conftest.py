"""One small world for every monitoring test (built once: ~15 s on a busy 2-core machine)."""

from __future__ import annotations

from typing import Any

import pytest

from .world import make_world


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> dict[str, Any]:
    return make_world(tmp_path_factory.mktemp("monitoring-world"))
