"""No stage of a run is silent for longer than ~30 s.

A search logs its own progress (``training.search_progress``), but a refit, a calibration,
TreeSHAP over a window or a big save can run for minutes without a line: on the real file the
XGBoost refit printed nothing for 95 s, which reads as a hung job in a log file or CloudWatch.
``NodeHeartbeat`` (a hook) watches the running node and, whenever nothing at all was logged
for ``interval`` seconds, logs one line saying what is still running and for how long::

    xgboost.refit_best_model: still running, 1m00s so far

Anything else logged (or a search's progress bar advancing, see ``touch``) resets the clock,
so a chatty stage gets no extra lines.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: Seconds without any log line before the heartbeat speaks.
INTERVAL = 30.0

_last_activity = time.monotonic()


def touch() -> None:
    """Something visible happened (a log line, a progress bar moved): reset the clock."""
    global _last_activity  # noqa: PLW0603 - one clock for the whole process
    _last_activity = time.monotonic()


class _Activity(logging.Handler):
    """A handler that only notes when the last record was logged."""

    def emit(self, record: logging.LogRecord) -> None:
        touch()


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class NodeHeartbeat:
    """Kedro hooks: a line for a node that has been silent for ``interval`` seconds."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._running: dict[str, threading.Event] = {}
        self._handler = _Activity(level=logging.INFO)

    @hook_impl
    def before_pipeline_run(self) -> None:
        root = logging.getLogger()
        if self._handler not in root.handlers:
            root.addHandler(self._handler)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._stop_all()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._stop_all()

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        stop = threading.Event()
        self._running[node.name] = stop
        touch()
        threading.Thread(
            target=self._watch, args=(node.name, stop), daemon=True
        ).start()

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        self._stop(node.name)

    @hook_impl
    def on_node_error(self, node: Any) -> None:
        self._stop(node.name)

    def _watch(self, name: str, stop: threading.Event) -> None:
        started = time.monotonic()
        while not stop.wait(min(self.interval, 1.0) if self.interval > 1 else 0.05):
            if time.monotonic() - _last_activity >= self.interval:
                logger.info(
                    "%s: still running, %s so far",
                    name,
                    _duration(time.monotonic() - started),
                )

    def _stop(self, name: str) -> None:
        stop = self._running.pop(name, None)
        if stop is not None:
            stop.set()

    def _stop_all(self) -> None:
        for name in list(self._running):
            self._stop(name)
        logging.getLogger().removeHandler(self._handler)
