"""The reporting nodes on hand-made registry history views."""

from __future__ import annotations

import base64
import html
import re

import pandas as pd
import pytest
from pydantic import ValidationError

from diab_readmit.pipelines.reporting.nodes import (
    ReportSettings,
    draw_comparison_charts,
    render_html_report,
    render_markdown_report,
    tabulate_latest_versions,
    tabulate_version_history,
)

from .conftest import make_history, png_bytes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SETTINGS = ReportSettings()


def _report_inputs(histories):
    comparison = tabulate_latest_versions(SETTINGS, *histories)
    history = tabulate_version_history(*histories)
    _, images = draw_comparison_charts(comparison, history, SETTINGS)
    return comparison, history, images


def test_comparison_has_a_row_per_algorithm_with_metadata_metrics(histories):
    table = tabulate_latest_versions(SETTINGS, *histories).set_index("algorithm")

    assert list(table.index) == ["logistic_regression", "random_forest", "xgboost"]
    assert table.loc["random_forest", "version_id"] == "v20260103_120000"
    for window in ("test", "oot"):
        for metric, value in histories[1]["latest"]["performance"][window].items():
            assert table.loc["random_forest", f"{window}_{metric}"] == pytest.approx(
                value
            )
    assert table.loc["random_forest", "n_versions"] == 3
    assert not table.loc["xgboost", "registered"]
    assert pd.isna(table.loc["xgboost", "test_auc_roc"])


def test_best_model_is_chosen_on_test_never_on_oot(histories):
    # Logistic regression has the higher OOT ROC-AUC (0.66 vs 0.62); random forest the
    # higher test ROC-AUC (0.65 vs 0.61). Only the test window may choose.
    table = tabulate_latest_versions(SETTINGS, *histories).set_index("algorithm")

    assert table["best"].tolist() == [False, True, False]


def _on_windows(history, test_end: str, trained: str):
    history["latest"]["temporal_splits"] = {
        "train": {"start_date": "1999-01-01", "end_date": "2005-12-31"},
        "test": {"start_date": "2006-01-01", "end_date": test_end},
        "oot": {"start_date": "2008-01-01", "end_date": "2008-12-31"},
    }
    history["latest"]["training_date"] = trained
    return history


def test_only_models_tested_on_the_same_windows_are_compared():
    # Issue 17: preprocessing with test.end_date=2007-06-30, then only XGBoost retrained. Its
    # higher test ROC-AUC is on a shorter window: it must not be named best without a word.
    histories = [
        _on_windows(
            make_history("logistic_regression", [0.61]),
            "2007-12-31",
            "2026-01-01T12:00:00",
        ),
        _on_windows(
            make_history("random_forest", [0.65]), "2007-12-31", "2026-01-01T12:05:00"
        ),
        _on_windows(
            make_history("xgboost", [0.70]), "2007-06-30", "2026-01-02T09:00:00"
        ),
    ]
    comparison, history, images = _report_inputs(histories)
    table = comparison.set_index("algorithm")

    assert table["comparable"].tolist() == [True, True, False]
    assert table["best"].tolist() == [False, True, False]
    assert table.loc["xgboost", "test_window"] == "2006-01-01..2007-06-30"
    note = (
        "Not comparable: xgboost (test 2006-01-01..2007-06-30, OOT 2008-01-01..2008-12-31) was tested on "
        "other windows than logistic_regression, random_forest (test 2006-01-01..2007-12-31, OOT "
        "2008-01-01..2008-12-31), so it is left out of the choice of the best model."
    )
    markdown = render_markdown_report(comparison, history, SETTINGS, [])
    page = render_html_report(comparison, history, images, SETTINGS, [], *histories)
    assert note in markdown and "xgboost (other windows)" in markdown
    assert note in page and "other windows</span>" in page
    assert "Best model: random_forest" in markdown


def test_with_two_window_sets_of_equal_size_the_newest_training_is_the_reference():
    histories = [
        _on_windows(
            make_history("logistic_regression", [0.61]),
            "2007-12-31",
            "2026-01-01T12:00:00",
        ),
        _on_windows(
            make_history("xgboost", [0.58]), "2007-06-30", "2026-01-02T09:00:00"
        ),
    ]
    table = tabulate_latest_versions(SETTINGS, *histories).set_index("algorithm")

    assert table["comparable"].tolist() == [False, True]
    assert table["best"].tolist() == [False, True]


def test_best_model_by_brier_takes_the_lowest():
    histories = [
        make_history("logistic_regression", [0.60], brier=(0.15, 0.30)),
        make_history("random_forest", [0.70], brier=(0.25, 0.10)),
    ]
    table = tabulate_latest_versions(
        ReportSettings(selection_metric="brier"), *histories
    )

    assert table.loc[table["best"], "algorithm"].tolist() == ["logistic_regression"]


def test_nothing_registered_gives_no_best_and_says_so():
    histories = [
        make_history(name) for name in ("logistic_regression", "random_forest")
    ]
    comparison, history, images = _report_inputs(histories)

    assert not comparison["best"].any()
    assert history.empty
    markdown = render_markdown_report(comparison, history, SETTINGS, [])
    assert "No model is registered yet" in markdown
    assert "kedro run --pipelines training" in markdown
    assert all(png.startswith(PNG_MAGIC) for png in images.values())


def test_latest_version_without_test_metrics_names_the_algorithm():
    broken = make_history("xgboost", [0.6])
    del broken["latest"]["performance"]["test"]

    with pytest.raises(
        ValueError, match=r"'xgboost'.*performance\.test.*kedro run --pipelines xgboost"
    ):
        tabulate_latest_versions(SETTINGS, broken)


def test_selection_metric_missing_from_metadata_is_an_error():
    broken = make_history("random_forest", [0.6])
    del broken["latest"]["performance"]["test"]["auc_roc"]

    with pytest.raises(
        ValueError, match=r"'random_forest'.*performance\.test\.auc_roc"
    ):
        tabulate_latest_versions(SETTINGS, broken)


def test_history_view_of_the_wrong_shape_is_explained():
    with pytest.raises(ValueError, match="'algorithm' key"):
        tabulate_latest_versions(SETTINGS, {"latest": None})


def test_version_history_lists_every_version_and_marks_the_latest(histories):
    history = tabulate_version_history(*histories)

    assert len(history) == 5
    latest = history[history["latest"]]
    assert latest[["algorithm", "version_id"]].values.tolist() == [
        ["logistic_regression", "v20260102_120000"],
        ["random_forest", "v20260103_120000"],
    ]
    assert history.loc[
        history["algorithm"] == "logistic_regression", "oot_auc_roc"
    ].tolist() == [0.64, 0.66]


def test_charts_are_figures_and_matching_png_bytes(histories):
    comparison = tabulate_latest_versions(SETTINGS, *histories)
    figures, images = draw_comparison_charts(
        comparison, tabulate_version_history(*histories), SETTINGS
    )

    assert set(figures) == set(images) == {"test_vs_oot.png", "auc_over_versions.png"}
    assert all(png.startswith(PNG_MAGIC) and len(png) > 5000 for png in images.values())


def test_markdown_puts_test_and_oot_side_by_side_and_marks_the_best(histories):
    comparison, history, _ = _report_inputs(histories)
    markdown = render_markdown_report(comparison, history, SETTINGS, [])

    assert "| ROC-AUC test | ROC-AUC OOT |" in markdown
    assert "| **random_forest** (best) | v20260103_120000 |" in markdown
    rf_row = next(
        line for line in markdown.splitlines() if line.startswith("| **random_forest**")
    )
    assert "| 0.6500 | 0.6200 |" in rf_row  # test then OOT ROC-AUC
    assert "| xgboost | not registered |" in markdown
    assert "TEST window" in markdown and "never used to choose" in markdown
    assert markdown.count("| random_forest | v2026") == 3  # version history rows


def test_html_is_self_contained_and_embeds_every_plot(histories):
    comparison, history, images = _report_inputs(histories)
    page = render_html_report(comparison, history, images, SETTINGS, [], *histories)

    assert not re.search(r"""(src|href)=["'](https?:|//|/)""", page), (
        "HTML refers to an outside file"
    )
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # two comparison charts + two plots for each of the two registered algorithms
    assert len(embedded) == 2 + 2 + 2
    assert all(base64.b64decode(data).startswith(PNG_MAGIC) for data in embedded)
    for name in ("logistic_regression", "random_forest", "xgboost"):
        assert name in page
    assert '<tr class="best"><td>random_forest <span class="badge">best</span>' in page
    assert "kedro run --pipelines xgboost" in page
    assert "TEST window" in page


def test_html_says_so_when_the_history_view_carries_no_plots():
    histories = [
        make_history("logistic_regression", [0.6]),
        make_history("random_forest", [0.62], plots={}),
    ]
    comparison, history, images = _report_inputs(histories)
    page = render_html_report(comparison, history, images, SETTINGS, [], *histories)

    assert "Plot images are not included" in page
    assert "data/08_reporting/logistic_regression/" in page
    assert "registered without plots" in page
    assert (
        len(re.findall(r"data:image/png;base64", page)) == 2
    )  # the comparison charts only


def test_html_escapes_text_from_metadata():
    history = make_history("random_forest", [0.62])
    history["latest"]["best_params"] = {"note": "<script>alert(1)</script>"}
    comparison, table, images = _report_inputs([history])
    page = render_html_report(comparison, table, images, SETTINGS, [], history)

    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_plot_order_puts_roc_first(histories):
    histories[1]["plots"] = {
        "importance.png": png_bytes("i"),
        "roc_curve.png": png_bytes("r"),
    }
    comparison, history, images = _report_inputs(histories)
    page = render_html_report(comparison, history, images, SETTINGS, [], *histories)
    section = page.split("<h3>random_forest</h3>", 1)[1]

    assert section.index('alt="roc curve"') < section.index('alt="importance"')


def test_settings_reject_an_unknown_metric_naming_it():
    with pytest.raises(ValidationError, match="auc"):
        ReportSettings(selection_metric="auc")


def test_a_rejected_newest_version_is_shown_with_the_gates_reasons(histories):
    lr, *others = histories
    champion, challenger = lr["versions"]
    rejected_why = (
        "test ROC-AUC 0.6600 is 0.0120 below the champion's (tolerance 0.005)"
    )
    lr = {
        **lr,
        "versions": [
            {
                **champion,
                "status": "champion",
                "gate": {"decision": "promoted", "reasons": []},
                "promotions": [
                    {
                        "promoted_by": "alice",
                        "promoted_at": "2026-01-04T09:00:00",
                        "reason": "roll back after review",
                    }
                ],
            },
            {
                **challenger,
                "status": "rejected",
                "gate": {"decision": "rejected", "reasons": [rejected_why]},
            },
        ],
        "latest": {**lr["latest"], "version_id": champion["id"]},
    }
    histories = (lr, *others)
    comparison, history, images = _report_inputs(histories)

    assert history[["status", "gate"]].values.tolist()[:2] == [
        ["champion", "promoted"],
        ["rejected", "rejected"],
    ]
    markdown = render_markdown_report(comparison, history, SETTINGS, [])
    page = render_html_report(comparison, history, images, SETTINGS, [], *histories)
    for text in (markdown, html.unescape(page)):
        assert (
            f"logistic_regression {challenger['id']} was registered but rejected by the "
            f"champion gate ({rejected_why}); latest/ still holds champion "
            f"{champion['id']}" in text
        )
    assert f"| rejected | rejected: {rejected_why} |" in markdown
    assert 'class=" status-rejected"' in page
    assert "promoted by alice at 2026-01-04T09:00:00: roll back after review" in page
    # Random forest's newest version is its champion: no warning for it.
    assert "random_forest v20260103_120000 was registered but rejected" not in page


def test_versions_trained_on_different_raw_files_are_different_series():
    """Issue 25 item 3: demo-data and real-data versions are never one line."""
    from diab_readmit.pipelines.reporting.charts import draw_auc_over_versions

    history = make_history("xgboost", test_auc=[0.74, 0.73, 0.68])
    demo = {"demo": True, "world": {"seed": 42, "n_encounters": 100_000}}
    real = {"path": "data/01_raw/diabetic_data.csv", "sha256": "ab" * 32}
    for entry, source in zip(history["versions"], [demo, demo, real], strict=True):
        entry["raw_source"] = source
    table = tabulate_version_history(history)
    assert list(table["trained_on"]) == [
        "demo data (seed 42, 100,000 encounters)",
        "demo data (seed 42, 100,000 encounters)",
        "data/01_raw/diabetic_data.csv (sha256 abababab)",
    ]
    figure = draw_auc_over_versions(table)
    axis = figure.axes[0]
    points = sorted(len(line.get_xdata()) for line in axis.get_lines())
    assert points == [1, 1, 2, 2]  # test and OOT, per raw file
    labels = [line.get_label() for line in axis.get_lines()]
    assert {"xgboost, demo data OOT", "xgboost, data abababab OOT"} <= set(labels)
    # The legend sits below the chart, and nothing is drawn past the figure's edges.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    drawn, page = figure.get_tightbbox(renderer), figure.bbox_inches
    assert drawn.x0 >= -0.02 and drawn.x1 <= page.x1 + 0.02, (drawn, page)
    assert drawn.y0 >= -0.02 and drawn.y1 <= page.y1 + 0.02, (drawn, page)


def test_latest_versions_of_different_raw_files_are_not_compared(histories):
    histories = [dict(h) for h in histories]
    registered = [h for h in histories if h["latest"] is not None]
    registered[0] = {
        **registered[0],
        "latest": {
            **registered[0]["latest"],
            "population": {"raw_source": {"demo": True}},
        },
    }
    histories = [
        next((r for r in registered if r["algorithm"] == h["algorithm"]), h)
        for h in histories
    ]
    comparison = tabulate_latest_versions(SETTINGS, *histories)
    marked = comparison.set_index("algorithm")["comparable"]
    assert not marked[registered[0]["algorithm"]]
    assert marked[registered[1]["algorithm"]]
