"""How metric values read in the report and in the run's closing summary."""

from __future__ import annotations

import math
from typing import Any

#: What a missing or non-numeric value reads as.
MISSING = "—"


def as_float(value: Any) -> float:
    """``value`` as a float; NaN when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def format_number(value: Any, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals, or ``MISSING``."""
    number = as_float(value)
    return MISSING if math.isnan(number) else f"{number:.{digits}f}"
