"""Matplotlib figures as PNG bytes: what the model registry stores and the report embeds."""

from __future__ import annotations

import io
from typing import Any

from kedro.io.core import DatasetError


def png_bytes(plot: Any, *, dpi: float | None = None) -> bytes:
    """``plot`` (a matplotlib Figure, or PNG bytes passed through) as PNG bytes.

    Args:
        plot: a Figure, or PNG bytes already rendered.
        dpi: resolution of the PNG; None keeps matplotlib's ``savefig.dpi`` (the figure's own).

    Raises:
        DatasetError: ``plot`` is neither a Figure nor bytes.
    """
    if isinstance(plot, bytes | bytearray):
        return bytes(plot)
    if not hasattr(plot, "savefig"):
        raise DatasetError(
            f"A plot to register must be a matplotlib Figure or PNG bytes, got {type(plot).__name__}."
        )
    buffer = io.BytesIO()
    plot.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
