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
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any, Literal

import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field

MetricName = Literal[
    "auc_roc",
    "pr_auc",
    "f1",
    "precision",
    "recall",
    "accuracy",
    "brier",
    "ece",
    "calibration_intercept",
    "calibration_slope",
]
#: Metrics a model can be chosen by: calibration intercept and slope are best near 0 and 1.
SelectionMetric = Literal[
    "auc_roc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "ece"
]

METRIC_LABELS: dict[str, str] = {
    "auc_roc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "f1": "F1",
    "precision": "Precision",
    "recall": "Recall",
    "accuracy": "Accuracy",
    "brier": "Brier",
    "ece": "Calibration error",
    "calibration_intercept": "Cal. intercept",
    "calibration_slope": "Cal. slope",
}
#: Metrics where a smaller value is the better model.
LOWER_IS_BETTER = frozenset({"brier", "ece"})
WINDOWS = ("test", "oot")

#: The order the training template's evaluation plots read best in; others follow by name.
PLOT_ORDER = ("roc", "precision_recall", "calibration", "confusion", "importance")

_MISSING = "—"


class ReportSettings(BaseModel):
    """``reporting.report`` in parameters_reporting.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = "30-day readmission models: comparison"
    selection_metric: SelectionMetric = "auc_roc"
    metrics: list[MetricName] = Field(
        default_factory=lambda: [
            "auc_roc",
            "pr_auc",
            "f1",
            "precision",
            "recall",
            "accuracy",
            "brier",
        ],
        min_length=1,
    )


# --------------------------------------------------------------------------- tables


def tabulate_latest_versions(
    settings: ReportSettings, *histories: dict[str, Any]
) -> pd.DataFrame:
    """One row per algorithm: its latest version's test and OOT metrics, and ``best``.

    ``best`` marks the registered algorithm with the best TEST ``settings.selection_metric``;
    ties go to the algorithm listed first. Algorithms never registered keep a row with
    ``registered`` False so the report says so instead of silently leaving them out.
    """
    metrics = _metrics_to_show(settings)
    rows = []
    for history in histories:
        algorithm = _algorithm_of(history)
        latest = history.get("latest")
        row: dict[str, Any] = {
            "algorithm": algorithm,
            "registered": latest is not None,
            "version_id": None,
            "training_date": None,
            "snapshot_id": None,
            "threshold": math.nan,
            "cv_score": math.nan,
            "training_seconds": math.nan,
            "n_versions": len(history.get("versions") or []),
            "test_window": None,
            "oot_window": None,
        }
        if latest is not None:
            performance = _performance_of(algorithm, latest, metrics)
            _require_selection_metric(
                algorithm, performance["test"], settings.selection_metric
            )
            row.update(
                version_id=latest.get("version_id"),
                training_date=latest.get("training_date"),
                snapshot_id=latest.get("snapshot_id"),
                threshold=_float_or_nan(latest.get("threshold")),
                cv_score=_float_or_nan(latest.get("cv_score")),
                training_seconds=_float_or_nan(latest.get("training_seconds")),
                test_window=_window_text(latest, "test"),
                oot_window=_window_text(latest, "oot"),
            )
            for window in WINDOWS:
                for metric in metrics:
                    row[f"{window}_{metric}"] = performance[window][metric]
        rows.append(row)

    columns = list(rows[0]) if rows else ["algorithm", "registered"]
    for window in WINDOWS:
        columns += [
            f"{window}_{metric}"
            for metric in metrics
            if f"{window}_{metric}" not in columns
        ]
    table = pd.DataFrame(rows).reindex(columns=columns)
    table["comparable"] = _on_reference_windows(table)
    table["best"] = False
    registered = table[table["registered"] & table["comparable"]]
    if not registered.empty:
        scores = registered[f"test_{settings.selection_metric}"]
        best_index = (
            scores.idxmin()
            if settings.selection_metric in LOWER_IS_BETTER
            else scores.idxmax()
        )
        table.loc[best_index, "best"] = True
    return table


def _window_text(latest: dict[str, Any], window: str) -> str | None:
    """``start..end`` of a version's test or OOT window, from its metadata's temporal_splits."""
    bounds = (latest.get("temporal_splits") or {}).get(window) or {}
    if not bounds.get("start_date") and not bounds.get("end_date"):
        return None
    return f"{bounds.get('start_date', '?')}..{bounds.get('end_date', '?')}"


def _on_reference_windows(table: pd.DataFrame) -> pd.Series:
    """True for registered rows tested on the reference windows (see the module docstring)."""
    registered = table[table["registered"].astype(bool)]
    comparable = pd.Series(False, index=table.index)
    if registered.empty:
        return comparable
    windows = list(
        zip(registered["test_window"], registered["oot_window"], strict=True)
    )
    counts = pd.Series(windows).value_counts(sort=False)
    tied = set(counts[counts == counts.max()].index)
    newest_first = registered.assign(key=windows).sort_values(
        "training_date", ascending=False, na_position="last"
    )
    reference = next(key for key in newest_first["key"] if key in tied)
    comparable[registered.index] = [key == reference for key in windows]
    return comparable


def tabulate_version_history(*histories: dict[str, Any]) -> pd.DataFrame:
    """Every registered version of every algorithm from ``versions.json``, oldest first."""
    rows = []
    for history in histories:
        algorithm = _algorithm_of(history)
        versions = history.get("versions") or []
        latest_id = (history.get("latest") or {}).get("version_id")
        for position, entry in enumerate(versions):
            if "id" not in entry:
                raise ValueError(
                    f"versions.json of algorithm '{algorithm}' has an entry without 'id' at "
                    f"position {position}: {entry!r}. The registry writes every entry with an id, "
                    f"so the file was edited by hand: delete versions.json and the next "
                    f"`kedro run --pipelines {algorithm}` rebuilds it from the version folders."
                )
            rows.append(
                {
                    "algorithm": algorithm,
                    "version_id": entry["id"],
                    "created_at": entry.get("created_at"),
                    "test_auc_roc": _float_or_nan(entry.get("test_auc_roc")),
                    "oot_auc_roc": _float_or_nan(entry.get("oot_auc_roc")),
                    "snapshot_id": entry.get("snapshot_id"),
                    "sha256": entry.get("sha256"),
                    "latest": entry["id"] == latest_id,
                }
            )
    columns = [
        "algorithm",
        "version_id",
        "created_at",
        "test_auc_roc",
        "oot_auc_roc",
        "snapshot_id",
        "sha256",
        "latest",
    ]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- charts


def draw_comparison_charts(
    comparison: pd.DataFrame, version_history: pd.DataFrame, settings: ReportSettings
) -> tuple[dict[str, Figure], dict[str, bytes]]:
    """Two charts: test vs OOT metrics per algorithm, and ROC-AUC over registered versions.

    Returns the figures (saved as PNG files by the catalog) and the same charts as PNG bytes
    for embedding in the HTML report, since a saved figure cannot be read back as a Figure.
    """
    figures = {
        "test_vs_oot.png": _draw_test_vs_oot(comparison, settings),
        "auc_over_versions.png": _draw_auc_over_versions(version_history),
    }
    images = {name: _png_bytes(figure) for name, figure in figures.items()}
    return figures, images


def _draw_test_vs_oot(comparison: pd.DataFrame, settings: ReportSettings) -> Figure:
    registered = comparison[comparison["registered"].astype(bool)]
    # Discrimination metrics on a 0-1 scale; Brier, ECE and the calibration ones read badly there.
    not_charted = {"brier", "ece", "calibration_intercept", "calibration_slope"}
    chart_metrics = [m for m in _metrics_to_show(settings) if m not in not_charted][
        :3
    ] or ["auc_roc"]
    figure = Figure(figsize=(4.2 * len(chart_metrics), 3.8), layout="constrained")
    axes = figure.subplots(1, len(chart_metrics), squeeze=False)[0]
    for axis, metric in zip(axes, chart_metrics, strict=True):
        if registered.empty:
            _say_nothing_registered(axis)
            continue
        positions = range(len(registered))
        width = 0.38
        for offset, window, colour in (
            (-width / 2, "test", "#3b6ea8"),
            (width / 2, "oot", "#e08a2c"),
        ):
            values = registered[f"{window}_{metric}"].astype(float)
            bars = axis.bar(
                [p + offset for p in positions],
                values,
                width,
                label=window.upper(),
                color=colour,
            )
            axis.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
        labels = [
            f"{name}\n(best)" if best else name
            for name, best in zip(
                registered["algorithm"], registered["best"], strict=True
            )
        ]
        axis.set_xticks(list(positions), labels, fontsize=8)
        axis.set_title(f"{METRIC_LABELS[metric]}: test vs OOT")
        axis.set_ylim(0, 1.08)
        axis.legend(fontsize=8, loc="lower right")
    figure.suptitle(
        f"Latest versions (best chosen on test {METRIC_LABELS[settings.selection_metric]})"
    )
    return figure


def _draw_auc_over_versions(version_history: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(8, 3.8), layout="constrained")
    axis = figure.subplots()
    if version_history.empty:
        _say_nothing_registered(axis)
        return figure
    colours = ["#3b6ea8", "#e08a2c", "#4c9a52", "#a8433b", "#7a5aa8"]
    for index, (algorithm, versions) in enumerate(
        version_history.groupby("algorithm", sort=False)
    ):
        colour = colours[index % len(colours)]
        # Registration time, not version number, on x: algorithms are retrained on their own
        # schedules, and a shared time axis shows which models saw which snapshot.
        when = pd.to_datetime(
            versions["created_at"], utc=True, errors="coerce"
        ).dt.tz_localize(None)
        axis.plot(
            when,
            versions["oot_auc_roc"],
            marker="o",
            color=colour,
            label=f"{algorithm} OOT",
        )
        axis.plot(
            when,
            versions["test_auc_roc"],
            marker="s",
            linestyle="--",
            color=colour,
            alpha=0.6,
            label=f"{algorithm} test",
        )
    axis.set_xlabel("registered at (UTC)")
    axis.set_ylabel("ROC-AUC")
    axis.set_title("ROC-AUC of every registered version (from versions.json)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, ncol=2)
    figure.autofmt_xdate()
    return figure


def _say_nothing_registered(axis: Any) -> None:
    axis.text(
        0.5,
        0.5,
        "no model registered yet",
        ha="center",
        va="center",
        transform=axis.transAxes,
    )
    axis.set_axis_off()


def _png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# --------------------------------------------------------------------------- Markdown


def render_markdown_report(
    comparison: pd.DataFrame, version_history: pd.DataFrame, settings: ReportSettings
) -> str:
    """The comparison as Markdown tables: best model, metrics side by side, version history."""
    metrics = _metrics_to_show(settings)
    lines = [f"# {settings.title}", "", _best_model_sentence(comparison, settings), ""]
    note = _comparability_note(comparison)
    if note:
        lines += [f"**{note}**", ""]
    lines += [_selection_rule(settings), ""]
    lines += ["## Latest versions: test and OOT side by side", ""]
    header = ["algorithm", "version", "trained"]
    for metric in metrics:
        header += [f"{METRIC_LABELS[metric]} test", f"{METRIC_LABELS[metric]} OOT"]
    header += ["threshold"]
    lines += [_md_row(header), _md_row(["---"] * 3 + ["---:"] * (len(header) - 3))]
    for row in comparison.itertuples(index=False):
        name = f"**{row.algorithm}** (best)" if row.best else row.algorithm
        if row.registered and not row.comparable:
            name += " (other windows)"
        if not row.registered:
            lines.append(
                _md_row(
                    [name, "not registered", _MISSING] + [_MISSING] * (len(header) - 3)
                )
            )
            continue
        cells = [name, _text(row.version_id), _timestamp(row.training_date)]
        for metric in metrics:
            cells += [
                _number(getattr(row, f"test_{metric}")),
                _number(getattr(row, f"oot_{metric}")),
            ]
        cells.append(_number(row.threshold))
        lines.append(_md_row(cells))
    lines += ["", "## Version history (versions.json)", ""]
    if version_history.empty:
        lines.append("No version registered yet.")
    else:
        lines += [
            _md_row(
                [
                    "algorithm",
                    "version",
                    "created",
                    "test ROC-AUC",
                    "OOT ROC-AUC",
                    "snapshot",
                    "latest",
                ]
            ),
            _md_row(["---", "---", "---", "---:", "---:", "---", "---"]),
        ]
        for entry in version_history.itertuples(index=False):
            lines.append(
                _md_row(
                    [
                        entry.algorithm,
                        _text(entry.version_id),
                        _timestamp(entry.created_at),
                        _number(entry.test_auc_roc),
                        _number(entry.oot_auc_roc),
                        _text(entry.snapshot_id),
                        "yes" if entry.latest else "",
                    ]
                )
            )
    lines += ["", "Plots: see the HTML report next to this file.", ""]
    return "\n".join(lines)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


# --------------------------------------------------------------------------- HTML


def render_html_report(
    comparison: pd.DataFrame,
    version_history: pd.DataFrame,
    chart_images: dict[str, bytes],
    settings: ReportSettings,
    *histories: dict[str, Any],
) -> str:
    """One self-contained HTML page: every image is an inline base64 PNG, no external file."""
    metrics = _metrics_to_show(settings)
    esc = html.escape
    body = [
        f"<h1>{esc(settings.title)}</h1>",
        f'<p class="best">{esc(_best_model_sentence(comparison, settings))}</p>',
        _html_comparability_note(comparison),
        f'<p class="rule">{esc(_selection_rule(settings))}</p>',
        "<h2>Latest versions: test and OOT side by side</h2>",
        _html_comparison_table(comparison, metrics),
        _html_model_details(comparison, histories),
        "<h2>Comparison charts</h2>",
    ]
    body += [_html_image(name, png) for name, png in chart_images.items()]
    body.append("<h2>Evaluation plots of each latest version</h2>")
    body += [_html_algorithm_plots(history) for history in histories]
    body.append("<h2>Version history (versions.json)</h2>")
    body.append(_html_version_history(version_history))
    return _HTML_PAGE.format(title=esc(settings.title), body="\n".join(body))


def _html_comparison_table(comparison: pd.DataFrame, metrics: list[str]) -> str:
    esc = html.escape
    # No "trained" column here (the version id is its timestamp; the training table has it):
    # 7 metrics x 2 windows must fit 1280 px and a landscape page.
    head = ['<tr><th rowspan="2">algorithm</th><th rowspan="2">version</th>']
    head += [f'<th colspan="2">{esc(METRIC_LABELS[m])}</th>' for m in metrics]
    head.append('<th rowspan="2">threshold</th></tr><tr>')
    head += ['<th>test</th><th class="oot">OOT</th>' for _ in metrics]
    head.append("</tr>")
    rows = []
    for row in comparison.itertuples(index=False):
        css = ' class="best"' if row.best else ""
        name = esc(row.algorithm) + (
            ' <span class="badge">best</span>' if row.best else ""
        )
        if row.registered and not row.comparable:
            name += ' <span class="badge warn">other windows</span>'

        if not row.registered:
            rows.append(
                f'<tr class="missing"><td>{name}</td><td colspan="{1 + 2 * len(metrics) + 1}">'
                f"not registered: run <code>kedro run --pipelines {esc(row.algorithm)}</code></td></tr>"
            )
            continue
        cells = [f"<td>{name}</td>", f"<td>{esc(_text(row.version_id))}</td>"]
        for metric in metrics:
            cells.append(
                f'<td class="num">{_number(getattr(row, f"test_{metric}"))}</td>'
            )
            cells.append(
                f'<td class="num oot">{_number(getattr(row, f"oot_{metric}"))}</td>'
            )
        cells.append(f'<td class="num">{_number(row.threshold)}</td>')
        rows.append(f"<tr{css}>{''.join(cells)}</tr>")
    return f'<div class="wide"><table class="metrics">{"".join(head)}{"".join(rows)}</table></div>'


def _html_model_details(
    comparison: pd.DataFrame, histories: tuple[dict[str, Any], ...]
) -> str:
    esc = html.escape
    latest_by_algorithm = {_algorithm_of(h): h.get("latest") for h in histories}
    rows = []
    for row in comparison[comparison["registered"].astype(bool)].itertuples(
        index=False
    ):
        latest = latest_by_algorithm.get(row.algorithm) or {}
        params = latest.get("best_params")
        rows.append(
            "<tr>"
            f"<td>{esc(row.algorithm)}</td>"
            f'<td class="nowrap">{esc(_timestamp(row.training_date))}</td>'
            f'<td class="num">{_number(row.cv_score)}</td>'
            f'<td class="params"><code>{esc(_text(params))}</code></td>'
            f"<td>{esc(_text(latest.get('feature_count')))}</td>"
            f"<td>{esc(_samples(latest))}</td>"
            f"<td>{esc(_text(row.snapshot_id))}</td>"
            f'<td class="nowrap">{esc(_text(row.test_window))}<br>{esc(_text(row.oot_window))}</td>'
            f'<td class="num">{_number(row.training_seconds, digits=1)}</td>'
            "</tr>"
        )
    if not rows:
        return ""
    return (
        '<h3>How each latest version was trained</h3><div class="wide"><table class="details">'
        "<tr><th>algorithm</th><th>trained</th><th>CV score</th>"
        "<th>best hyperparameters</th><th>features</th><th>rows train / test / OOT</th>"
        "<th>snapshot</th><th>test / OOT window</th><th>training s</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


def _html_algorithm_plots(history: dict[str, Any]) -> str:
    esc = html.escape
    algorithm = _algorithm_of(history)
    heading = f"<h3>{esc(algorithm)}</h3>"
    if history.get("latest") is None:
        return heading + '<p class="note">Not registered yet, so no plots.</p>'
    if "plots" not in history:
        return heading + (
            '<p class="note">Plot images are not included: this registry\'s history view carries '
            "no <code>plots</code>. The training run saved them as PNG files under "
            f"<code>data/08_reporting/{esc(algorithm)}/</code> and in the version folder.</p>"
        )
    plots = history["plots"] or {}
    if not plots:
        return (
            heading
            + '<p class="note">The latest version was registered without plots.</p>'
        )
    figures = [
        _html_image(name, png)
        for name, png in sorted(plots.items(), key=_plot_sort_key)
    ]
    return heading + '<div class="plots">' + "".join(figures) + "</div>"


def _html_version_history(version_history: pd.DataFrame) -> str:
    esc = html.escape
    if version_history.empty:
        return "<p>No version registered yet.</p>"
    rows = [
        "<tr><th>algorithm</th><th>version</th><th>created</th><th>test ROC-AUC</th>"
        '<th class="oot">OOT ROC-AUC</th><th>snapshot</th><th>sha256</th></tr>'
    ]
    for entry in version_history.itertuples(index=False):
        css = ' class="latest"' if entry.latest else ""
        sha = _text(entry.sha256)
        rows.append(
            f"<tr{css}><td>{esc(entry.algorithm)}</td><td>{esc(_text(entry.version_id))}"
            f"{' (latest)' if entry.latest else ''}</td><td>{esc(_timestamp(entry.created_at))}</td>"
            f'<td class="num">{_number(entry.test_auc_roc)}</td>'
            f'<td class="num oot">{_number(entry.oot_auc_roc)}</td>'
            f"<td>{esc(_text(entry.snapshot_id))}</td>"
            f'<td><code title="{esc(sha)}">{esc(sha[:12])}</code></td></tr>'
        )
    return "<table>" + "".join(rows) + "</table>"


def _html_image(name: str, png: bytes) -> str:
    label = html.escape(name.rsplit(".", 1)[0].replace("_", " "))
    encoded = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{label}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{label}</figcaption></figure>"
    )


def _plot_sort_key(item: tuple[str, bytes]) -> tuple[int, str]:
    name = item[0]
    for rank, prefix in enumerate(PLOT_ORDER):
        if name.startswith(prefix):
            return rank, name
    return len(PLOT_ORDER), name


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 1400px; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.6rem; }}
th {{ background: #f0f0f0; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
table.metrics {{ font-size: 0.8rem; }}
table.metrics th, table.metrics td {{ padding: 0.2rem 0.3rem; }}
table.metrics td:nth-child(-n+2) {{ white-space: nowrap; }}
table.details {{ font-size: 0.8rem; }}
table.details th, table.details td {{ padding: 0.2rem 0.4rem; }}
td.params {{ min-width: 14rem; }}
td.params code {{ overflow-wrap: anywhere; }}
td.nowrap {{ white-space: nowrap; }}
.oot {{ background: #fff6ec; }}
tr.best td {{ font-weight: 600; background: #eaf5ea; }}
tr.missing td {{ color: #888; font-style: italic; }}
.badge {{ background: #2e7d32; color: #fff; border-radius: 3px; padding: 0 0.3rem; font-size: 0.75rem; }}
.badge.warn {{ background: #a15c00; }}
p.best {{ font-size: 1.1rem; }}
p.rule, p.note {{ color: #555; }}
p.warning {{ background: #fff3e0; border-left: 4px solid #a15c00; padding: 0.5rem 0.8rem; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0 0 1rem; }}
figure img {{ max-width: 100%; box-sizing: border-box; border: 1px solid #ddd; }}
.plots figure {{ flex: 0 1 560px; }}
.wide {{ overflow-x: auto; }}
figcaption {{ font-size: 0.8rem; color: #555; }}
@media print {{
  @page {{ size: A4 landscape; margin: 12mm; }}
  body {{ margin: 0; max-width: none; font-size: 10pt; }}
  table, table.metrics {{ font-size: 8pt; }}
  .wide {{ overflow: visible; }}
  tr, figure, p.warning {{ break-inside: avoid; }}
  h2, h3 {{ break-after: avoid; }}
  .plots figure {{ flex-basis: 48%; }}
  .oot, tr.best td, th, .badge {{ print-color-adjust: exact; -webkit-print-color-adjust: exact; }}
}}
</style></head>
<body>
{body}
</body></html>
"""


# --------------------------------------------------------------------------- shared bits


def _best_model_sentence(comparison: pd.DataFrame, settings: ReportSettings) -> str:
    best = comparison[comparison["best"].astype(bool)]
    if best.empty:
        return (
            "No model is registered yet, so there is no best model: train one with "
            "`kedro run --pipelines training`."
        )
    row = best.iloc[0]
    metric = settings.selection_metric
    return (
        f"Best model: {row['algorithm']} (version {_text(row['version_id'])}), "
        f"test {METRIC_LABELS[metric]} {_number(row[f'test_{metric}'])} "
        f"(OOT {_number(row[f'oot_{metric}'])})."
    )


def _comparability_note(comparison: pd.DataFrame) -> str | None:
    """A sentence naming the latest versions tested on other windows than the reference."""
    registered = comparison[comparison["registered"].astype(bool)]
    others = registered[~registered["comparable"].astype(bool)]
    if others.empty:
        return None
    reference = registered[registered["comparable"].astype(bool)].iloc[0]

    def windows(row: Any) -> str:
        return f"test {_text(row['test_window'])}, OOT {_text(row['oot_window'])}"

    listed = "; ".join(
        f"{row['algorithm']} ({windows(row)})" for _, row in others.iterrows()
    )
    verb, pronoun = ("was", "it is") if len(others) == 1 else ("were", "they are")
    return (
        f"Not comparable: {listed} {verb} tested on other windows than "
        f"{', '.join(registered[registered['comparable'].astype(bool)]['algorithm'])} "
        f"({windows(reference)}), so {pronoun} left out of the choice of the best model. Retrain "
        f"every algorithm on one snapshot to compare them all: `kedro run --pipelines training`."
    )


def _html_comparability_note(comparison: pd.DataFrame) -> str:
    note = _comparability_note(comparison)
    return f'<p class="warning">{html.escape(note)}</p>' if note else ""


def _selection_rule(settings: ReportSettings) -> str:
    metric = METRIC_LABELS[settings.selection_metric]
    direction = "lowest" if settings.selection_metric in LOWER_IS_BETTER else "highest"
    return (
        f"The best model is the one with the {direction} {metric} on the TEST window. "
        f"OOT (out-of-time) metrics are reported for comparison only and never used to choose a model."
    )


def _metrics_to_show(settings: ReportSettings) -> list[str]:
    """The configured metrics, with the selection metric always among them."""
    metrics = list(dict.fromkeys(settings.metrics))
    if settings.selection_metric not in metrics:
        metrics.insert(0, settings.selection_metric)
    return metrics


def _algorithm_of(history: dict[str, Any]) -> str:
    if not isinstance(history, dict) or "algorithm" not in history:
        raise ValueError(
            f"A model registry history view must be a dict with an 'algorithm' key, got "
            f"{type(history).__name__} {str(history)[:200]!r}. Check that the reporting inputs "
            f"are '<algorithm>.model_registry@history' datasets of the ModelRegistry type."
        )
    return str(history["algorithm"])


def _performance_of(
    algorithm: str, latest: dict[str, Any], metrics: list[str]
) -> dict[str, dict[str, float]]:
    performance = latest.get("performance")
    where = f"metadata.json of the latest '{algorithm}' version ({latest.get('version_id', '?')})"
    if not isinstance(performance, dict):
        raise ValueError(
            f"{where} has no 'performance' section. Re-register the model with "
            f"`kedro run --pipelines {algorithm}`."
        )
    result: dict[str, dict[str, float]] = {}
    for window in WINDOWS:
        scores = performance.get(window)
        if not isinstance(scores, dict):
            raise ValueError(
                f"{where} has no performance.{window} metrics. Re-register the model with "
                f"`kedro run --pipelines {algorithm}`."
            )
        result[window] = {
            metric: _float_or_nan(scores.get(metric)) for metric in metrics
        }
    return result


def _require_selection_metric(
    algorithm: str, scores: dict[str, float], metric: str
) -> None:
    if math.isnan(scores[metric]):
        raise ValueError(
            f"metadata.json of the latest '{algorithm}' version has no numeric "
            f"performance.test.{metric}, the metric that chooses the best model "
            f"(reporting.report.selection_metric). Re-register the model with "
            f"`kedro run --pipelines {algorithm}` or choose another selection_metric."
        )


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _number(value: Any, digits: int = 4) -> str:
    number = _float_or_nan(value)
    return _MISSING if math.isnan(number) else f"{number:.{digits}f}"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _MISSING
    return str(value)


def _timestamp(value: Any) -> str:
    """ISO timestamps as ``2026-01-03 12:00 UTC``; anything unparseable as it is."""
    text = _text(value)
    try:
        moment = pd.Timestamp(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        return f"{moment.tz_convert('UTC'):%Y-%m-%d %H:%M} UTC"
    return f"{moment:%Y-%m-%d %H:%M}"


def _samples(latest: dict[str, Any]) -> str:
    keys = ("training_samples", "test_samples", "oot_samples")
    return " / ".join(_text(latest.get(key)) for key in keys)
