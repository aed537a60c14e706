"""Drawing column values from frequency tables by inverse CDF.

One number per row picks the value: a uniform draw gives an independent column; a latent
normal (a Gaussian copula) lets columns depend on each other and on a patient's frailty
while each keeps the marginal of its table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import ndtr


class FrequencyTable:
    """The values of one column and their cumulative probabilities, in table order.

    Table order matters when a latent normal picks the value: a higher latent picks a
    later value, so ordinal columns (counts, severity) list values in increasing order.
    A value of weight 0 keeps its place (tables over the same values share codes) but its
    probability interval is empty, so it is never drawn.
    """

    def __init__(self, weights: Mapping[Any, float]):
        self.values = np.asarray(list(weights))
        cumulative = np.cumsum(np.asarray(list(weights.values()), dtype=np.float64))
        self.cdf = cumulative / cumulative[-1]
        # A uniform just below 1 may land above the rounded last cumulative probability; it
        # belongs to the last value that can be drawn, not to a trailing weight-0 value.
        self._last_drawable = int(
            np.flatnonzero(np.diff(cumulative, prepend=0.0) > 0)[-1]
        )
        # Codes are kept for millions of rows: the smallest integer type that holds them.
        self.code_dtype = np.int8 if len(self.values) <= 127 else np.int16

    def codes_at(self, u: np.ndarray) -> np.ndarray:
        """Index into ``values`` of the value whose probability interval holds ``u`` in [0, 1)."""
        codes = np.searchsorted(self.cdf, u, side="right")
        return np.minimum(codes, self._last_drawable).astype(self.code_dtype)

    def codes_at_normal(self, z: np.ndarray) -> np.ndarray:
        """Codes for standard-normal latents: a higher latent picks a later value."""
        return self.codes_at(ndtr(z))

    def codes_by_rank(self, z: np.ndarray) -> np.ndarray:
        """Codes whose frequencies match the table exactly, assigned in the order of ``z``.

        For latents that are not standard normal (they mix frailty with counts of earlier
        encounters): the lowest latent gets the smallest value, and every value is used
        as often as its weight says.
        """
        order = np.argsort(z, kind="stable")
        quantiles = (np.arange(len(z), dtype=np.float64) + 0.5) / len(z)
        codes = np.empty(len(z), dtype=self.code_dtype)
        codes[order] = self.codes_at(quantiles)
        return codes

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Independent codes drawn with the table's frequencies."""
        return self.codes_at(rng.random(size))
