"""The Markdown and HTML reports, rendered by Jinja2 from the templates under ``templates/``.

``report_context`` is what every template sees; the HTML report adds the training details,
the charts and each algorithm's evaluation plots. HTML templates (``*.html.j2``) escape
every value; the Markdown template escapes the ``|`` of table cells (filter ``md``). An
undefined name in a template is an error, not an empty string.
"""

from __future__ import annotations

import base64
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from diab_readmit.number_format import (
    MISSING,
    format_number,
    format_percent,
    format_ranges,
)

from .formatting import (
    best_model_sentence,
    comparability_note,
    hyperparameters,
    image_label,
    present,
    samples,
    selection_rule,
    text,
    timestamp,
)
from .parameter_models import METRIC_LABELS, ReportSettings
from .tables import algorithm_of

#: The order the training template's evaluation plots read best in; others follow by name.
PLOT_ORDER = (
    "roc",
    "precision_recall",
    "calibration",
    "decision",
    "confusion",
    "importance",
)

_TEMPLATES = Environment(
    loader=PackageLoader(__package__, "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_TEMPLATES.filters.update(
    number=format_number,
    ranges=format_ranges,
    percent=format_percent,
    text=text,
    present=present,
    hyperparameters=hyperparameters,
    timestamp=timestamp,
    image_label=image_label,
    base64=lambda png: base64.b64encode(png).decode("ascii"),
    md=lambda cell: str(cell).replace("|", "\\|"),
)


def render(template: str, context: dict[str, Any]) -> str:
    """``templates/<template>`` filled in with ``context``."""
    return _TEMPLATES.get_template(template).render(context)


def report_context(
    comparison: pd.DataFrame, version_history: pd.DataFrame, settings: ReportSettings
) -> dict[str, Any]:
    """What both reports show: the summary sentences and the two tables, row by row."""
    return {
        "title": settings.title,
        "best_model": best_model_sentence(comparison, settings),
        "comparability_note": comparability_note(comparison),
        "selection_rule": selection_rule(settings),
        "metrics": settings.metrics_to_show,
        "labels": METRIC_LABELS,
        "missing": MISSING,
        "latest_versions": comparison.to_dict("records"),
        "versions": version_history.to_dict("records"),
        "rejections": gate_rejections(version_history),
    }


def gate_rejections(version_history: pd.DataFrame) -> list[str]:
    """One sentence per algorithm whose newest version the champion gate rejected."""
    if version_history.empty or "status" not in version_history:
        return []
    sentences = []
    for algorithm, versions in version_history.groupby("algorithm", sort=False):
        newest = versions.iloc[-1]
        if newest["status"] != "rejected":
            continue
        champion = versions.loc[versions["latest"].astype(bool), "version_id"]
        holds = (
            f"latest/ still holds champion {champion.iloc[0]}"
            if len(champion)
            else "this algorithm has no champion"
        )
        why = newest.get("gate_reasons") or "no reason recorded"
        sentences.append(
            f"{algorithm} {newest['version_id']} was registered but rejected by the "
            f"champion gate ({why}); {holds}. To use it anyway: `kedro run --pipelines "
            f"promote --params promote.algorithm={algorithm},promote.version="
            f'{newest["version_id"]},promote.reason="..."`.'
        )
    return sentences


def training_details(
    comparison: pd.DataFrame, histories: tuple[dict[str, Any], ...]
) -> list[dict[str, Any]]:
    """How each registered latest version was trained: its comparison row and metadata."""
    latest_by_algorithm = {algorithm_of(h): h.get("latest") for h in histories}
    details = []
    for row in comparison[comparison["registered"].astype(bool)].to_dict("records"):
        latest = latest_by_algorithm.get(row["algorithm"]) or {}
        details.append(
            {
                **row,
                "best_params": latest.get("best_params"),
                "feature_count": latest.get("feature_count"),
                "samples": samples(latest),
            }
        )
    return details


def algorithm_plots(histories: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """Each algorithm's latest evaluation plots in reading order.

    ``plots`` is None when the history view carries no plots at all (a registry type that
    does not load them), an empty list when the version was registered without plots.
    """
    sections = []
    for history in histories:
        plots = history.get("plots")
        sections.append(
            {
                "algorithm": algorithm_of(history),
                "registered": history.get("latest") is not None,
                "plots": None
                if "plots" not in history
                else sorted((plots or {}).items(), key=_plot_sort_key),
            }
        )
    return sections


def _plot_sort_key(item: tuple[str, bytes]) -> tuple[int, str]:
    name = item[0]
    for rank, prefix in enumerate(PLOT_ORDER):
        if name.startswith(prefix):
            return rank, name
    return len(PLOT_ORDER), name
