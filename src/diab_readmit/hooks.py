"""Project hooks."""

from __future__ import annotations

import os
import sys
from types import TracebackType

from kedro.framework.hooks import hook_impl
from kedro.io.core import DatasetError
from pydantic import ValidationError

from diab_readmit.errors import UserFixableError

try:  # Kedro >= 1.7 validates typed params and declared dataset validators
    from kedro.validation.exceptions import ParameterValidationError
except ImportError:  # pragma: no cover
    ParameterValidationError = UserFixableError

_USER_FIXABLE = (
    UserFixableError,
    DatasetError,
    ParameterValidationError,
    ValidationError,
)
SHOW_TRACEBACK = "DIAB_READMIT_TRACEBACK"


def user_fixable_cause(error: BaseException) -> BaseException | None:
    """The first error in ``error``'s cause chain whose message is meant for the user."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, _USER_FIXABLE):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


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
