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
from diab_readmit.number_format import format_ranges

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
    environment.filters.update(
        number=number,
        percent=percent,
        interval=interval,
        percent_interval=percent_interval,
        ranges=ranges,
    )
    environment.globals.update(
        net_benefit_rows=net_benefit_rows, curve_points=curve_points
    )
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


#: Threshold probabilities of the card's net-benefit table (the figure has every one).
NET_BENEFIT_SHOWN = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40)
#: Points of the smoothed calibration curve the card lists.
CURVE_POINTS_SHOWN = 6


def ranges(value: Any) -> str:
    """``[[0.02, 0.31]]`` as ``2%-31%`` (``number_format.format_ranges``); '-' when absent."""
    if isinstance(value, Undefined) or value is None:
        return "-"
    return format_ranges(value)


def percent_interval(estimate: dict[str, Any] | None, digits: int = 1) -> str:
    """``12.1% (9.8% to 14.0%)`` from ``{"estimate", "interval"}`` of shares."""
    if isinstance(estimate, Undefined) or not estimate:
        return "-"
    low, high = estimate.get("interval") or (None, None)
    return (
        f"{percent(estimate.get('estimate'), digits)} "
        f"({percent(low, digits)} to {percent(high, digits)})"
    )


def net_benefit_rows(curve: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The rows of one window's decision curve at ``NET_BENEFIT_SHOWN``."""
    if isinstance(curve, Undefined) or not curve:
        return []
    rows = []
    for position, t in enumerate(curve["thresholds"]):
        if any(math.isclose(t, shown) for shown in NET_BENEFIT_SHOWN):
            low, high = curve["model_interval"][position]
            rows.append(
                {
                    "t": t,
                    "model": {
                        "estimate": curve["model"][position],
                        "interval": [low, high],
                    },
                    "treat_all": curve["treat_all"][position],
                    "advantage": curve["advantage_interval"][position],
                }
            )
    return rows


def curve_points(calibration: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``CURVE_POINTS_SHOWN`` evenly spaced points of a smoothed calibration curve."""
    curve = (
        None
        if isinstance(calibration, Undefined) or not calibration
        else calibration.get("curve")
    )
    if not curve:
        return []
    count = len(curve["risk"])
    picked = sorted(
        {
            round(i * (count - 1) / (CURVE_POINTS_SHOWN - 1))
            for i in range(CURVE_POINTS_SHOWN)
        }
    )
    return [
        {
            "risk": curve["risk"][i],
            "observed": {
                "estimate": curve["observed"][i],
                "interval": [curve["low"][i], curve["high"][i]],
            },
        }
        for i in picked
    ]


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
