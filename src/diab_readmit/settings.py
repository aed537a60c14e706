"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

import os

from kedro.config import OmegaConfigLoader


def _env(name: str, default: str | None = None) -> str | None:
    """``${env:NAME,default}`` in globals: deployment settings (bucket names, endpoints)
    come from the environment so the same image runs in every account."""
    return os.environ.get(name, default)


CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"env": _env},
}

from diab_readmit.hooks import ConciseUserErrors  # noqa: E402
from diab_readmit.interruption import StopCleanlyOnSignal  # noqa: E402
from diab_readmit.run_hooks import CheckOutputsWritable, PinInputsPerRun  # noqa: E402

HOOKS = (ConciseUserErrors(), CheckOutputsWritable(), PinInputsPerRun(), StopCleanlyOnSignal())

from diab_readmit.session import DiabReadmitSession  # noqa: E402

SESSION_CLASS = DiabReadmitSession
