"""Errors a user can cause and fix: bad input, missing prerequisites, invalid configuration.

Their messages already say what, where and what to do, so the CLI prints them as one short
message instead of a traceback (see hooks.ConciseUserErrors).
"""


class UserFixableError(Exception):
    """Base class of errors whose message is the whole story for the person running the job."""
