"""Where runs are tracked: ``conf/<env>/tracking.yml``, validated.

Local runs track into a SQLite file under ``data/`` (no server); ``--env aws`` reads the
server's URI from ``MLFLOW_TRACKING_URI`` (docs/aws.md). ``DIAB_TRACKING=off`` switches
tracking off for one command whatever the file says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from diab_readmit.errors import UserFixableError

SWITCH = "DIAB_TRACKING"
SQLITE = "sqlite:///"


class TrackingConfigError(UserFixableError, ValueError):
    """tracking.yml is invalid."""


class TrackingSettings(BaseModel):
    """``tracking:`` in conf/<env>/tracking.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Record a run in MLflow for every ``kedro run``.
    enabled: bool = True
    #: MLflow tracking URI; a relative ``sqlite:///`` path is under the project folder.
    #: Empty: tracking is off (``--env aws`` without ``MLFLOW_TRACKING_URI``).
    uri: str | None = None
    #: Where a new experiment keeps its artifacts (relative: under the project); None: the
    #: tracking server's default.
    artifact_location: str | None = None
    experiment: str = "diab_readmit"
    #: Seconds to wait for a tracking server before the run goes on without tracking.
    server_timeout_seconds: float = 5.0

    def resolved(self, project_path: Path) -> TrackingSettings:
        """Relative SQLite and artifact paths made absolute under ``project_path``."""
        uri, artifacts = self.uri, self.artifact_location
        if uri and uri.startswith(SQLITE) and not uri[len(SQLITE) :].startswith("/"):
            uri = SQLITE + str(project_path / uri[len(SQLITE) :])
        if artifacts and "://" not in artifacts and not Path(artifacts).is_absolute():
            artifacts = str(project_path / artifacts)
        return self.model_copy(update={"uri": uri, "artifact_location": artifacts})

    @property
    def active(self) -> bool:
        switched_off = os.environ.get(SWITCH, "").strip().lower() in {
            "off",
            "0",
            "false",
        }
        return self.enabled and bool(self.uri) and not switched_off


def tracking_settings(config: dict[str, Any] | None) -> TrackingSettings:
    """The ``tracking`` block of tracking.yml as :class:`TrackingSettings`.

    Raises:
        TrackingConfigError: a key is unknown or a value has the wrong type.
    """
    try:
        return TrackingSettings.model_validate((config or {}).get("tracking") or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"tracking.{'.'.join(str(p) for p in error['loc'])}: {error['msg']} "
            f"(got {error.get('input')!r})"
            for error in exc.errors()
        )
        raise TrackingConfigError(
            f"conf/<env>/tracking.yml is invalid: {problems}. Fix the file, or set "
            f"{SWITCH}=off to run without tracking."
        ) from exc
