"""Project hooks."""

from __future__ import annotations

import os
import sys
from types import TracebackType

from kedro.framework.hooks import hook_impl

from diab_readmit.errors import concise_message, user_fixable_cause

SHOW_TRACEBACK = "DIAB_READMIT_TRACEBACK"


class ConciseUserErrors:
    """Print a user-fixable error as its message alone; anything else keeps its traceback.

    Set DIAB_READMIT_TRACEBACK=1 to see full tracebacks for every error.
    """

    @hook_impl
    def after_context_created(self, context) -> None:
        if os.environ.get(SHOW_TRACEBACK) or getattr(
            sys.excepthook, "_diab_readmit", False
        ):
            return
        previous = sys.excepthook

        def excepthook(
            kind: type[BaseException], value: BaseException, tb: TracebackType | None
        ):
            messages = user_messages(value)
            if not messages:
                previous(kind, value, tb)
                return
            lines = "".join(f"Error: {message}\n" for message in messages)
            sys.stderr.write(f"{lines}(set {SHOW_TRACEBACK}=1 to see the traceback)\n")

        excepthook._diab_readmit = True
        sys.excepthook = excepthook


def user_messages(error: BaseException) -> list[str]:
    """The distinct messages of ``error`` (or of each error of a run's failures) if every
    one is user-fixable; an empty list if any is not (its traceback is what helps)."""
    errors = getattr(error, "errors", None)
    if not isinstance(errors, list) or not errors:
        errors = [error]
    causes = [user_fixable_cause(e) for e in errors]
    if any(c is None for c in causes):
        return []
    return list(dict.fromkeys(concise_message(c) for c in causes))
