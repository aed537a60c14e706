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


def format_ranges(ranges: Any) -> str:
    """Ranges of shares as percentages: ``[[0.02, 0.31], [0.35, 0.35]]`` reads
    ``2%-31%, 35%``; ``none`` for no range, ``MISSING`` when absent."""
    if ranges is None or not isinstance(ranges, list | tuple):
        return MISSING
    return (
        ", ".join(
            f"{low:.0%}" if low == high else f"{low:.0%}-{high:.0%}"
            for low, high in ranges
        )
        or "none"
    )


def format_percent(value: Any, digits: int = 1) -> str:
    """A share as a percentage with ``digits`` decimals, or ``MISSING``."""
    number = as_float(value)
    return MISSING if math.isnan(number) else f"{100 * number:.{digits}f}%"
