"""Project hooks."""

from __future__ import annotations

import os
import sys
from types import TracebackType

from kedro.framework.hooks import hook_impl

from diab_readmit.errors import user_fixable_cause

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
            cause = user_fixable_cause(value)
            if cause is None:
                previous(kind, value, tb)
                return
            sys.stderr.write(
                f"\nError: {cause}\n(set {SHOW_TRACEBACK}=1 to see the traceback)\n"
            )

        excepthook._diab_readmit = True
        sys.excepthook = excepthook
