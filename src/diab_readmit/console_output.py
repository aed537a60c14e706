"""What a run prints: plain unwrapped lines in a file, rich on a terminal, no known noise.

``conf/logging.yml`` logs plain lines: in a file (ECS and CloudWatch, CI, ``make run >
run.log``) Kedro's default rich handler wraps at 80 columns and right-aligns a
``file.py:123`` column, so one warning took ~15 lines. On a terminal rich is what a person
wants, and its console also draws the search progress bars. Kedro 1.7 accepts handler
classes only from ``logging`` and ``kedro.logging`` in YAML, and YAML cannot ask whether the
output is a terminal, so ``rich_on_terminal`` makes that switch in code when settings are
imported. Any other logging configuration (``KEDRO_LOGGING_CONFIG``) is left as it is.
"""

from __future__ import annotations

import copy
import logging
import warnings

from kedro.framework.project import LOGGING
from rich.console import Console

#: The handler of conf/logging.yml; rich_on_terminal replaces only that one.
PLAIN_HANDLER = "plain_lines"
RICH_HANDLER = {"class": "kedro.logging.RichHandler", "rich_tracebacks": True}


def is_terminal() -> bool:
    """Whether stdout, where the logs go, is a terminal (rich's test, so FORCE_COLOR works)."""
    return Console().is_terminal


def rich_on_terminal() -> None:
    """On a terminal, log through Kedro's rich handler instead of conf/logging.yml's plain one.

    Applied through Kedro's own ``LOGGING`` object, so the configuration Kedro re-applies
    when it sets up the project logger is this one. Warnings are logged either way.
    """
    logging.captureWarnings(True)
    config = copy.deepcopy(LOGGING.data)
    handlers = config.get("handlers") or {}
    if PLAIN_HANDLER not in handlers or not is_terminal():
        return
    handlers[PLAIN_HANDLER] = dict(RICH_HANDLER)
    LOGGING.configure(config)


def silence_known_warnings() -> None:
    """Ignore the warnings this project cannot fix, each for the reason given beside it."""
    # Kedro 1.7's OmegaConfigLoader registers its own `globals` and `runtime_params`
    # resolvers with OmegaConf 2.4's deprecated register_new_resolver(); the project's
    # own `env` resolver uses register_resolver() (settings.py).
    warnings.filterwarnings(
        "ignore",
        message=r"register_new_resolver\(\) is deprecated",
        category=UserWarning,
        module=r"kedro\.config\.omegaconf_config",
    )
    # The reporting pipeline reads `<algorithm>.model_registry@history`: each algorithm's
    # registry is named in that algorithm's namespace on purpose (dataset factories, one
    # modular pipeline per algorithm in kedro-viz). Kedro warns once for any dataset read
    # from outside its namespace, which is exactly what a cross-algorithm report does.
    warnings.filterwarnings(
        "ignore",
        message=r"One or more dataset names contain '\.' characters",
        category=UserWarning,
        module=r"kedro\.pipeline\.node",
    )
    # Search workers exit 1 s after a search (training.search.WORKER_IDLE_SECONDS) so the
    # refit gets their memory back. When the next algorithm's search starts in that second,
    # loky sees a worker leave with work queued, starts a replacement and warns; no job is
    # lost and the results are unchanged.
    warnings.filterwarnings(
        "ignore",
        message=r"A worker stopped while some jobs were given to the executor",
        category=UserWarning,
        module=r"joblib\.externals\.loky\.process_executor",
    )


class _DropLines(logging.Filter):
    """Drops the records whose (unformatted) message starts with ``prefix``."""

    def __init__(self, prefix: str, level: int = logging.NOTSET) -> None:
        super().__init__()
        self._prefix, self._level = prefix, level

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            str(record.msg).startswith(self._prefix) and record.levelno >= self._level
        )


def say_each_error_once() -> None:
    """Silence Kedro's copies of an error that the run prints at its end anyway.

    Kedro logs a failing node's message ("Node … failed with error") before raising it, and
    each invalid parameter ("Parameter '…': …") before raising all of them together; the
    runner's summary and ``hooks.ConciseUserErrors`` print each error once, at the end.
    """
    logging.getLogger("kedro.pipeline.node").addFilter(
        _DropLines("Node %s failed with error")
    )
    logging.getLogger("kedro.validation.parameter_validator").addFilter(
        _DropLines("", logging.ERROR)
    )
