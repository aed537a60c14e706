"""Errors a user can cause and fix: bad input, missing prerequisites, invalid configuration.

Their messages already say what, where and what to do, so the CLI prints them as one short
message instead of a traceback (see hooks.ConciseUserErrors), and the runner's summary of a
run with several failures logs tracebacks only for the other errors.
"""

from __future__ import annotations

import re

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


#: pydantic's decorations of a message: ``[type=…, input_value=…]`` and a documentation URL.
_PYDANTIC_NOISE = (
    (re.compile(r"\s*\[type=[^\]]*\]"), ""),
    (re.compile(r"\n\s*For further information visit \S+"), ""),
    (re.compile(r"Parameter validation failed:\n- "), ""),
    (re.compile(r"\n- "), "\n"),
    # "Parameter 'p': Failed to instantiate M for parameter 'p': 1 validation error for M\nfield\n  msg"
    (
        re.compile(
            r"Parameter '([^']+)': Failed to instantiate \w+ for parameter '[^']+': "
            r"\d+ validation errors? for \w+\n(\S+)\n\s+"
        ),
        r"parameter \1.\2: ",
    ),
    (re.compile(r"\d+ validation errors? for \w+\n(\S+)\n\s+"), r"\1: "),
    (re.compile(r"(: |^)(Value|Assertion) error, "), r"\1"),
)


def concise_message(error: BaseException) -> str:
    """``error``'s message without pydantic's type tags and documentation links."""
    text = str(error)
    for pattern, replacement in _PYDANTIC_NOISE:
        text = pattern.sub(replacement, text)
    return text.strip()
