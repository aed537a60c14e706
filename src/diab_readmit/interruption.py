"""SIGTERM (what ECS sends to stop a task) and SIGINT (Ctrl-C) stop a run cleanly.

Without this, SIGTERM's default action kills the Kedro process on the spot: the search's
joblib worker processes and their resource trackers are orphaned and keep computing for
minutes. During a run the signal instead raises ``RunInterrupted`` in the main thread, which
joblib answers by terminating its workers; the run logs one line saying which node was
interrupted and what was (not) registered, and the process exits with 128 + the signal
number (143 for SIGTERM, 130 for SIGINT), as a killed process would. A second signal while
stopping takes its default action.

Saves interrupted half-way are safe by the commit protocol (datasets/commit_protocol.py):
a folder without its commit marker is never read.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

from joblib.externals.loky import get_reusable_executor, reusable_executor
from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(SystemExit):
    """The run was stopped by a signal. A SystemExit, so that the failure-isolating runner,
    which catches Exception, does not carry on with the next node."""


def stop_worker_processes() -> None:
    """Terminate joblib's reusable loky workers, if any were started."""
    if reusable_executor._executor is not None:
        get_reusable_executor().shutdown(wait=False, kill_workers=True)


class StopCleanlyOnSignal:
    """Kedro hook: during a run, turn SIGTERM and SIGINT into ``RunInterrupted``."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._node: str | None = None
        self._started = 0.0
        self._registered: list[str] = []

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._node, self._registered, self._started = None, [], time.monotonic()
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for number in SIGNALS:
            self._previous[number] = signal.signal(number, self._interrupt)

    @hook_impl
    def before_node_run(self, node) -> None:
        self._node = node.name

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        if dataset_name.endswith(".model_registry@bundle"):
            self._registered.append(dataset_name.split(".", maxsplit=1)[0])

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._restore()

    def _restore(self) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous = {}

    def _interrupt(self, number: int, frame: FrameType | None) -> None:
        self._restore()  # a second signal takes its default action
        for other in SIGNALS:
            signal.signal(
                other,
                signal.SIG_DFL
                if other == signal.SIGTERM
                else signal.default_int_handler,
            )
        name = signal.Signals(number).name
        registered = (
            f"registered before it: {', '.join(self._registered)}; nothing else was registered"
            if self._registered
            else "nothing was registered"
        )
        logger.error(
            "%s received after %.0f s, during node %s: stopping the worker processes and exiting "
            "(%s; an interrupted save leaves only an incomplete folder, which is never read).",
            name,
            time.monotonic() - self._started,
            self._node or "(none yet)",
            registered,
        )
        atexit.register(
            stop_worker_processes
        )  # joblib terminates them too; this is the net
        raise RunInterrupted(128 + number)
