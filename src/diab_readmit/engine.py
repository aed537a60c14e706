"""Which engine computes a run: ``DIAB_ENGINE=pandas`` (default, one process) or ``dask``.

The engine is chosen per run by the environment, so the same image and the same ``--env``
serve both: ``DIAB_ENGINE=dask kedro run --pipelines data_processing``. With ``dask``,
Dask's own ``DASK_SCHEDULER_ADDRESS`` names an existing cluster; unset, the run starts a
``LocalCluster`` sized by the ``engine:`` parameters. Nodes ask :func:`selected_engine`
which path to take; what they compute is the same on both.
"""

from __future__ import annotations

import os
from typing import Literal

from diab_readmit.errors import UserFixableError

ENGINE_VARIABLE = "DIAB_ENGINE"
ENGINES = ("pandas", "dask")
Engine = Literal["pandas", "dask"]


class UnknownEngineError(UserFixableError):
    pass


def selected_engine() -> Engine:
    """The engine named by ``DIAB_ENGINE`` (``pandas`` when unset or empty)."""
    value = os.environ.get(ENGINE_VARIABLE, "").strip().lower() or "pandas"
    if value not in ENGINES:
        raise UnknownEngineError(
            f"{ENGINE_VARIABLE}={os.environ[ENGINE_VARIABLE]!r} is not an engine of this "
            f"project. Set it to one of {', '.join(ENGINES)} (or unset it for pandas)."
        )
    return value  # type: ignore[return-value]
