"""Compare the latest registered model of every algorithm, and their version histories.

Each input is one algorithm's ``<algorithm>.model_registry@history`` view::

    {"algorithm": "xgboost",
     "latest": <metadata.json of the newest version, or None if never registered>,
     "versions": [<versions.json entries, oldest first>],
     "plots": {"roc_curves.png": b"\\x89PNG...", ...}}   # the latest version's plots

The best model is chosen on the TEST window only. OOT metrics are shown beside the test
metrics so a reader sees how each model holds up on later data, but they never choose
anything: a choice made on OOT would leave no untouched window to report.

Only models tested on the same windows are compared. Each algorithm registers on its own
schedule, so the latest versions can come from snapshots with different windows (a
preprocessing run with moved windows, then only one algorithm retrained). The windows most
latest versions share are the reference (ties: the most recently trained version's); rows on
other windows are shown, marked ``comparable: False`` and named in the report, and never
chosen as the best.

The work is in ``tables`` (rows), ``charts`` (figures), ``rendering`` and ``templates/``
(the reports) and ``formatting`` (how values and sentences read).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from diab_readmit.figures_io import png_bytes

from .charts import draw_auc_over_versions, draw_test_vs_oot
from .parameter_models import ReportSettings
from .rendering import algorithm_plots, render, report_context, training_details
from .tables import (
    VERSION_HISTORY_COLUMNS,
    best_of,
    comparison_columns,
    latest_version_row,
    on_reference_windows,
    version_rows,
)
from .trust import compare_algorithms, trust_sections

__all__ = [
    "ReportSettings",
    "compare_algorithms",
    "draw_comparison_charts",
    "render_html_report",
    "render_markdown_report",
    "tabulate_latest_versions",
    "tabulate_version_history",
]


def tabulate_latest_versions(
    settings: ReportSettings, *histories: dict[str, Any]
) -> pd.DataFrame:
    """One row per algorithm: its latest version's test and OOT metrics, and ``best``.

    Args:
        settings: ``reporting.report``: the metrics to show and the one that chooses.
        *histories: one ``<algorithm>.model_registry@history`` view per algorithm.

    Returns:
        A row per algorithm, in input order. ``registered`` is False for an algorithm never
        registered; ``comparable`` marks rows on the reference windows; ``best`` the
        comparable row with the best TEST ``selection_metric`` (ties: the first listed).
    """
    rows = [latest_version_row(history, settings) for history in histories]
    table = pd.DataFrame(rows).reindex(columns=comparison_columns(rows, settings))
    table["comparable"] = on_reference_windows(table)
    table["best"] = best_of(table, settings)
    return table


def tabulate_version_history(*histories: dict[str, Any]) -> pd.DataFrame:
    """Every registered version of every algorithm from ``versions.json``, oldest first.

    Args:
        *histories: one ``<algorithm>.model_registry@history`` view per algorithm.

    Returns:
        A row per version with its test and OOT ROC-AUC; ``latest`` marks each latest one.
    """
    rows = [row for history in histories for row in version_rows(history)]
    return pd.DataFrame(rows, columns=VERSION_HISTORY_COLUMNS)


def draw_comparison_charts(
    comparison: pd.DataFrame, version_history: pd.DataFrame, settings: ReportSettings
) -> tuple[dict[str, Figure], dict[str, bytes]]:
    """Two charts: test vs OOT metrics per algorithm, and ROC-AUC over registered versions.

    Returns:
        The figures (saved as PNG files by the catalog) and the same charts as PNG bytes
        for embedding in the HTML report, since a saved figure cannot be read back as a
        Figure.
    """
    figures = {
        "test_vs_oot.png": draw_test_vs_oot(comparison, settings),
        "auc_over_versions.png": draw_auc_over_versions(version_history),
    }
    images = {name: png_bytes(figure, dpi=100) for name, figure in figures.items()}
    return figures, images


def render_markdown_report(
    comparison: pd.DataFrame,
    version_history: pd.DataFrame,
    settings: ReportSettings,
    algorithm_differences: list[dict[str, Any]],
    *histories: dict[str, Any],
) -> str:
    """The comparison as Markdown tables: best model, metrics side by side, whether the
    best wins beyond the noise (``compare_algorithms``), where each latest version adds
    net benefit and what its capacities catch (from ``histories``), version history."""
    context = report_context(comparison, version_history, settings)
    context["differences"] = algorithm_differences
    context["decisions"] = [
        section for section in trust_sections(histories) if section["decision_curve"]
    ]
    return render("report.md.j2", context)


def render_html_report(
    comparison: pd.DataFrame,
    version_history: pd.DataFrame,
    chart_images: dict[str, bytes],
    settings: ReportSettings,
    algorithm_differences: list[dict[str, Any]],
    *histories: dict[str, Any],
) -> str:
    """One self-contained HTML page: every image is an inline base64 PNG, no external file.

    Args:
        comparison: ``tabulate_latest_versions``' table.
        version_history: ``tabulate_version_history``' table.
        chart_images: ``draw_comparison_charts``' PNG bytes by file name.
        settings: ``reporting.report``.
        algorithm_differences: ``compare_algorithms``' paired test ROC-AUC differences.
        *histories: the registry history views, for each version's details, plots,
            intervals, group tables, reasons and model card.
    """
    context = report_context(comparison, version_history, settings)
    context.update(
        training_details=training_details(comparison, histories),
        charts=chart_images,
        algorithm_plots=algorithm_plots(histories),
        differences=algorithm_differences,
        trust=trust_sections(histories),
    )
    return render("report.html.j2", context)
