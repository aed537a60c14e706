"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

import os

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from diab_readmit.console_output import (
    rich_on_terminal,
    say_each_error_once,
    silence_known_warnings,
)

rich_on_terminal()
silence_known_warnings()
say_each_error_once()


def _env(name: str, default: str | None = None) -> str | None:
    """``${env:NAME,default}`` in globals: deployment settings (bucket names, endpoints)
    come from the environment so the same image runs in every account."""
    return os.environ.get(name, default)


# Registered here with OmegaConf's current API rather than through
# CONFIG_LOADER_ARGS["custom_resolvers"], which Kedro 1.7 registers with the deprecated
# register_new_resolver() (one warning per command). Kedro allows OmegaConf's `oc.env`
# only in credentials, hence a resolver of the project's own for globals.
OmegaConf.register_resolver("env", _env, replace=True)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/<env>/tracking.yml: where MLflow records runs (diab_readmit.tracking).
    "config_patterns": {"tracking": ["tracking*", "tracking*/**"]},
}

# The project's hooks and session are imported only now, after the known third-party
# warnings are silenced (above): importing them loads kedro-viz and scikit-learn.
from diab_readmit.engine import DaskClusterForRun  # noqa: E402
from diab_readmit.heartbeat import NodeHeartbeat  # noqa: E402
from diab_readmit.hooks import ConciseUserErrors  # noqa: E402
from diab_readmit.interruption import StopCleanlyOnSignal  # noqa: E402
from diab_readmit.kedro_viz_run_status import KEDRO_VIZ_DISTRIBUTION, run_status_hooks  # noqa: E402
from diab_readmit.run_hooks import CheckOutputsWritable, PinInputsPerRun  # noqa: E402
from diab_readmit.run_summary import RunSummary  # noqa: E402
from diab_readmit.tracking.hooks import TrackRunsInMlflow  # noqa: E402

HOOKS = (
    ConciseUserErrors(),
    CheckOutputsWritable(),
    PinInputsPerRun(),
    StopCleanlyOnSignal(),
    DaskClusterForRun(),
    RunSummary(),
    TrackRunsInMlflow(),
    NodeHeartbeat(),
    *run_status_hooks(),
)
# kedro-viz's own run-status hook refuses FailureIsolatingRunner; run_status_hooks()
# registers the same hooks with that runner accepted (see kedro_viz_run_status.py).
DISABLE_HOOKS_FOR_PLUGINS = (KEDRO_VIZ_DISTRIBUTION,)

from diab_readmit.session import DiabReadmitSession  # noqa: E402

SESSION_CLASS = DiabReadmitSession
