"""Progress of one search stage: fits done of the total, time elapsed, an estimate of the rest.

On a terminal (Kedro's rich handler writing to one) it is a rich progress bar that log
lines scroll above; anywhere else (a log file, CloudWatch, CI) it is a log line every
``interval`` seconds, so no stage is silent for longer than that::

    random_forest search stage 1: 40/100 fits, 1m12s elapsed, about 1m48s left

The search reports fits as they are done (``advance``); the estimate is the stage's average
time per fit so far times the fits left.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

from rich import get_console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from diab_readmit.heartbeat import touch

logger = logging.getLogger(__name__)


def _logs_to_a_rich_terminal() -> bool:
    """Whether log records are drawn by rich on a terminal, where a bar can sit below them."""
    rich_handlers = [
        h for h in logging.getLogger().handlers if isinstance(h, RichHandler)
    ]
    return bool(rich_handlers) and all(h.console.is_terminal for h in rich_handlers)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class StageProgress:
    """Context manager reporting the fits of one search stage while they run."""

    def __init__(
        self, description: str, total_fits: int, interval: float = 30.0
    ) -> None:
        self.description = description
        self.total_fits = total_fits
        self.interval = interval
        self.done = 0
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Progress | None = None
        self._task = None

    def __enter__(self) -> StageProgress:
        self._started = time.perf_counter()
        if _logs_to_a_rich_terminal():
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("fits"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=get_console(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total_fits)
        else:
            self._thread = threading.Thread(target=self._log_periodically, daemon=True)
            self._thread.start()
        return self

    def advance(self, fits: int) -> None:
        """``fits`` more fits of this stage are done."""
        self.done += fits
        touch()  # progress a reader can see: no heartbeat line needed
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)

    def status(self) -> str:
        elapsed = time.perf_counter() - self._started
        line = f"{self.description}: {self.done}/{self.total_fits} fits, {_duration(elapsed)} elapsed"
        if 0 < self.done < self.total_fits:
            left = elapsed / self.done * (self.total_fits - self.done)
            line += f", about {_duration(left)} left"
        return line

    def _log_periodically(self) -> None:
        while not self._stop.wait(self.interval):
            logger.info(self.status())

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.stop()
