"""Errors a user can cause and fix: bad input, missing prerequisites, invalid configuration.

Their messages already say what, where and what to do, so the CLI prints them as one short
message instead of a traceback (see hooks.ConciseUserErrors), and the runner's summary of a
run with several failures logs tracebacks only for the other errors.
"""

from __future__ import annotations

from kedro.io.core import DatasetError
from pydantic import ValidationError

try:  # Kedro >= 1.7 validates typed params and declared dataset validators
    from kedro.validation.exceptions import ParameterValidationError
except ImportError:  # pragma: no cover
    ParameterValidationError = ValidationError


class UserFixableError(Exception):
    """Base class of errors whose message is the whole story for the person running the job."""


#: Besides the project's own: Kedro's dataset and parameter errors and pydantic's, whose
#: messages name the dataset or the key and the value.
USER_FIXABLE = (
    UserFixableError,
    DatasetError,
    ParameterValidationError,
    ValidationError,
)


def user_fixable_cause(error: BaseException | None) -> BaseException | None:
    """The first error in ``error``'s cause chain whose message is meant for the user."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, USER_FIXABLE):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
