"""The model card of a registered version, written from that version's metadata alone.

The training pipeline renders it (``training/registration.py``) from the metadata exactly as
it will be committed to ``metadata.json`` (after a JSON round trip), so the card cannot say
anything the metadata does not: every number in it is a metadata value, formatted. The
registry stores the file, stamping in the version id, time and sha256 only it knows. The
template, ``templates/model_card.md.j2``, holds the words; this module only formats.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Undefined

from diab_readmit import feature_dictionary

TEMPLATES = Path(__file__).parent / "templates"
#: The headline metrics of the card's performance table, in order.
HEADLINE = (
    ("auc_roc", "ROC-AUC"),
    ("pr_auc", "PR-AUC (average precision)"),
    ("brier", "Brier score"),
    ("observed_minus_expected", "observed - expected readmission rate"),
)


def number(value: Any, digits: int = 4) -> str:
    """A metadata number as the card prints it; '-' when absent or undefined."""
    if (
        isinstance(value, Undefined)
        or value is None
        or (isinstance(value, float) and math.isnan(value))
    ):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def percent(value: Any, digits: int = 1) -> str:
    if (
        isinstance(value, Undefined)
        or value is None
        or (isinstance(value, float) and math.isnan(value))
    ):
        return "-"
    return f"{100 * value:.{digits}f}%"


def interval(estimate: dict[str, Any] | None, digits: int = 4) -> str:
    """``0.6801 (0.6680 to 0.6920)`` from ``{"estimate", "interval"}``."""
    if isinstance(estimate, Undefined) or not estimate:
        return "-"
    low, high = estimate.get("interval") or (None, None)
    return (
        f"{number(estimate.get('estimate'), digits)} "
        f"({number(low, digits)} to {number(high, digits)})"
    )


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # A version registered before a section existed renders without that section.
        undefined=ChainableUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown, not HTML; the report escapes it when it embeds it
    )
    environment.filters.update(number=number, percent=percent, interval=interval)
    return environment


def _families(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    grouped = feature_dictionary.families(list(metadata.get("feature_columns") or []))
    return [
        {
            "family": family,
            "count": len(names),
            "labels": [feature_dictionary.label(name) for name in names],
        }
        for family, names in grouped.items()
    ]


def _top_features(metadata: dict[str, Any], top: int = 10) -> list[dict[str, Any]]:
    values = (
        (metadata.get("explanations") or {}).get("mean_abs_contribution") or {}
    ).get("values") or {}
    return [
        {"feature": name, "label": feature_dictionary.label(name), "value": value}
        for name, value in list(values.items())[:top]
    ]


def _threshold_trade(metadata: dict[str, Any]) -> dict[str, Any]:
    """What flagging at the threshold means on the test window, from its metrics."""
    test = (metadata.get("performance") or {}).get("test") or {}
    precision, recall, rate = (
        test.get("precision"),
        test.get("recall"),
        test.get("positive_rate"),
    )
    flag_rate = (
        recall * rate / precision if precision and recall is not None and rate else None
    )
    return {"precision": precision, "recall": recall, "flag_rate": flag_rate}


def render_model_card(metadata: dict[str, Any]) -> str:
    """The Markdown model card of the version ``metadata`` describes."""
    template = _environment().get_template("model_card.md.j2")
    return template.render(
        m=metadata,
        headline=HEADLINE,
        families=_families(metadata),
        top_features=_top_features(metadata),
        trade=_threshold_trade(metadata),
        windows=("test", "oot"),
        window_names={"train": "train", "test": "test", "oot": "OOT"},
    )
