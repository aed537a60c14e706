"""``monitoring_report.html``: the status, its reasons and the charts on one page (Jinja2)."""

from __future__ import annotations

import base64
import math
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

#: Inputs listed per month in the page's main drift table; the rest are in a fold-out.
DRIFT_ROWS_SHOWN = 20
CHART_TITLES = {
    "drift_by_feature.png": "Drift by feature (latest month)",
    "drift_over_months.png": "Drift over months",
    "risk_over_months.png": "Risk distribution over months",
    "calibration_over_months.png": "Calibration over months",
}

_environment = Environment(
    loader=PackageLoader(__package__, "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _share(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1%}"


_environment.filters["number"] = _number
_environment.filters["share"] = _share


def render_report(
    status: dict[str, Any],
    drift: pd.DataFrame,
    performance: pd.DataFrame,
    estimated: pd.DataFrame,
    chart_images: dict[str, bytes],
) -> str:
    """The HTML page: status and reasons, the monitored model, charts, and the tables.

    Args:
        status: what ``monitoring_status.json`` holds.
        drift: the drift table (every month, every input, and ``risk``).
        performance: the monthly performance table.
        estimated: the monthly estimated-performance table (before outcomes).
        chart_images: PNG bytes by file name, embedded as data URIs (one file to mail).
    """
    ordered = drift.sort_values(["month", "psi"], ascending=[True, False])
    months = [
        {
            "month": month,
            "top": rows.head(DRIFT_ROWS_SHOWN).to_dict("records"),
            "rest": rows.iloc[DRIFT_ROWS_SHOWN:].to_dict("records"),
        }
        for month, rows in ordered.groupby("month", sort=True)
    ]
    charts = [
        {
            "title": CHART_TITLES.get(name, name),
            "name": name,
            "data": base64.b64encode(png).decode("ascii"),
        }
        for name, png in chart_images.items()
    ]
    return _environment.get_template("monitoring_report.html.j2").render(
        status=status,
        drift_months=months,
        performance=performance.to_dict("records"),
        estimated=estimated.astype(object)
        .where(estimated.notna(), None)
        .to_dict("records"),
        charts=charts,
    )
