"""Drift of a month against a reference: PSI over reference bins, and KS for numerics.

PSI (population stability index) = sum over bins of (c - r) * ln(c / r), with r and c the
reference's and the month's share of rows in the bin. The bins come from the reference only
(its quantiles, or its values), so PSI does not change under any monotone transform of an
input: a scaled and an unscaled column drift alike. The usual reading: below 0.1 stable,
0.1-0.25 a shift worth a look, above 0.25 a population the model was not trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from .parameter_models import DriftThresholds

#: Share given to an empty bin, so that ln(c / r) stays finite (a common choice for PSI).
EMPTY_BIN_SHARE = 1e-4
MISSING = "(missing)"
OTHER = "(other)"


@dataclass(frozen=True)
class Bins:
    """How one input is binned: interior quantile edges (numeric) or categories."""

    edges: np.ndarray | None = None
    categories: tuple | None = None

    @property
    def numeric(self) -> bool:
        return self.edges is not None

    def shares(self, values: pd.Series) -> np.ndarray:
        """Share of ``values`` in each bin."""
        if self.numeric:
            index = np.searchsorted(self.edges, values.to_numpy(np.float64), "right")
            counts = np.bincount(index, minlength=len(self.edges) + 1)
        else:
            labels = _labels(values)
            pooled = labels.where(labels.isin(self.categories), OTHER)
            counts = (
                pooled.value_counts()
                .reindex([*self.categories, OTHER], fill_value=0)
                .to_numpy()
            )
        return counts / max(1, counts.sum())


def _labels(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), MISSING)


def kind_of(reference: pd.Series) -> str:
    """``numeric`` (more than two values), ``binary`` (a 0/1 flag) or ``categorical``."""
    if pd.api.types.is_bool_dtype(reference):
        return "binary"
    if not pd.api.types.is_numeric_dtype(reference):
        return "categorical"
    return "numeric" if reference.nunique() > 2 else "binary"


def bins_of(reference: pd.Series, settings: DriftThresholds) -> Bins:
    """Quantile bins of a numeric input with many values; its values (or categories) else."""
    if (
        kind_of(reference) == "numeric"
        and reference.nunique() > settings.max_categories
    ):
        quantiles = np.linspace(0, 1, settings.bins + 1)[1:-1]
        edges = np.unique(np.quantile(reference.to_numpy(np.float64), quantiles))
        return Bins(edges=edges)
    shares = _labels(reference).value_counts(normalize=True)
    frequent = shares[shares >= settings.min_category_share]
    return Bins(categories=tuple(frequent.index[: settings.max_categories - 1]))


def population_stability_index(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI between two vectors of bin shares."""
    r = np.maximum(reference, EMPTY_BIN_SHARE)
    c = np.maximum(current, EMPTY_BIN_SHARE)
    return float(np.sum((c - r) * np.log(c / r)))


def level_of(psi: float, settings: DriftThresholds) -> str:
    """``alert``, ``warn`` or ``ok`` for a PSI value."""
    if psi >= settings.psi_alert:
        return "alert"
    return "warn" if psi >= settings.psi_warn else "ok"


def drift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    settings: DriftThresholds,
    month_column: str = "partition_date",
) -> pd.DataFrame:
    """PSI (and KS for numerics) of each of ``columns`` in each month of ``current``.

    Args:
        reference: the reference rows (one per encounter).
        current: the rows to monitor, with ``month_column``.
        columns: the inputs to compare; each must be in both frames.
        settings: bins and thresholds.

    Returns:
        One row per month and input: month, feature, kind (numeric / binary /
        categorical), rows, psi, ks_statistic and ks_pvalue (numeric only), level (ok / warn / alert, or
        ``not judged`` for a month with fewer than ``min_rows`` rows).
    """
    months = list(current.groupby(month_column, sort=True))
    rows = []
    for column in columns:
        bins = bins_of(reference[column], settings)
        expected = bins.shares(reference[column])
        kind = kind_of(reference[column])
        for month, rows_of_month in months:
            values = rows_of_month[column]
            psi = population_stability_index(expected, bins.shares(values))
            ks = (
                ks_2samp(reference[column].to_numpy(), values.to_numpy())
                if kind == "numeric" and len(values)
                else None
            )
            rows.append(
                {
                    "month": pd.Timestamp(month).strftime("%Y-%m"),
                    "feature": column,
                    "kind": kind,
                    "rows": len(values),
                    "psi": psi,
                    "ks_statistic": float(ks.statistic) if ks else np.nan,
                    "ks_pvalue": float(ks.pvalue) if ks else np.nan,
                    "level": level_of(psi, settings)
                    if len(values) >= settings.min_rows
                    else "not judged",
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "month",
            "feature",
            "kind",
            "rows",
            "psi",
            "ks_statistic",
            "ks_pvalue",
            "level",
        ],
    )
