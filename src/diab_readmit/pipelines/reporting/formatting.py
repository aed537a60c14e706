"""How the report's values and sentences read, the same in the Markdown and the HTML report."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from diab_readmit.number_format import MISSING, format_number

from .parameter_models import LOWER_IS_BETTER, METRIC_LABELS, ReportSettings


def text(value: Any) -> str:
    """``value`` as text; ``MISSING`` for None and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return str(value)


def present(value: Any) -> bool:
    """Whether ``value`` says something: not None, NaN (a CSV's empty cell) or blank."""
    return text(value) != MISSING and str(value).strip() != ""


def hyperparameters(value: Any) -> str:
    """Best hyperparameters as ``name=value`` pairs, numbers to 4 significant digits
    (a search's draws are floats like 0.0012345678901234567)."""
    if not isinstance(value, dict):
        return text(value)
    return ", ".join(f"{name}={_significant(v)}" for name, v in value.items())


def _significant(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return text(value)


def timestamp(value: Any) -> str:
    """ISO timestamps as ``2026-01-03 12:00 UTC``; anything unparseable as it is."""
    shown = text(value)
    try:
        moment = pd.Timestamp(shown)
    except ValueError:
        return shown
    if moment.tzinfo is not None:
        return f"{moment.tz_convert('UTC'):%Y-%m-%d %H:%M} UTC"
    return f"{moment:%Y-%m-%d %H:%M}"


def samples(latest: dict[str, Any]) -> str:
    """``train / test / OOT`` row counts of a version's metadata."""
    keys = ("training_samples", "test_samples", "oot_samples")
    return " / ".join(text(latest.get(key)) for key in keys)


def image_label(name: str) -> str:
    """``roc_curve.png`` as ``roc curve``: a plot's alt text and caption."""
    return name.rsplit(".", 1)[0].replace("_", " ")


def best_model_sentence(comparison: pd.DataFrame, settings: ReportSettings) -> str:
    """The report's first line: which model is best and by what, or that none is."""
    best = comparison[comparison["best"].astype(bool)]
    if best.empty:
        return (
            "No model is registered yet, so there is no best model: train one with "
            "`kedro run --pipelines training`."
        )
    row = best.iloc[0]
    metric = settings.selection_metric
    return (
        f"Best model: {row['algorithm']} (version {text(row['version_id'])}), "
        f"test {METRIC_LABELS[metric]} {format_number(row[f'test_{metric}'])} "
        f"(OOT {format_number(row[f'oot_{metric}'])})."
    )


def comparability_note(comparison: pd.DataFrame) -> str | None:
    """A sentence naming the latest versions tested on other windows than the reference."""
    registered = comparison[comparison["registered"].astype(bool)]
    others = registered[~registered["comparable"].astype(bool)]
    if others.empty:
        return None
    reference = registered[registered["comparable"].astype(bool)].iloc[0]

    other_data = set(others.get("trained_on", [])) != {reference.get("trained_on")}

    def windows(row: Any) -> str:
        data = f", trained on {row.get('trained_on')}" if other_data else ""
        return f"test {text(row['test_window'])}, OOT {text(row['oot_window'])}{data}"

    listed = "; ".join(
        f"{row['algorithm']} ({windows(row)})" for _, row in others.iterrows()
    )
    verb, pronoun = ("was", "it is") if len(others) == 1 else ("were", "they are")
    return (
        f"Not comparable: {listed} {verb} "
        f"{'tested or trained on other data' if other_data else 'tested on other windows'} than "
        f"{', '.join(registered[registered['comparable'].astype(bool)]['algorithm'])} "
        f"({windows(reference)}), so {pronoun} left out of the choice of the best model. Retrain "
        f"every algorithm on one snapshot to compare them all: `kedro run --pipelines training`."
    )


def selection_rule(settings: ReportSettings) -> str:
    """How the best model is chosen, and that OOT never chooses."""
    metric = METRIC_LABELS[settings.selection_metric]
    direction = "lowest" if settings.selection_metric in LOWER_IS_BETTER else "highest"
    return (
        f"The best model is the one with the {direction} {metric} on the TEST window. "
        f"OOT (out-of-time) metrics are reported for comparison only and never used to choose a model."
    )
