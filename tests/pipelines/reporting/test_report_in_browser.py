"""The HTML report as Chromium draws it: readable at 1280 px, and printed on A4 landscape.

Needs Debian's ``chromium`` (``make browser`` installs it once);
without it the tests skip and say why.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from diab_readmit.feature_dictionary import FEATURE_DICTIONARY, label
from diab_readmit.figures_io import png_bytes as figure_png
from diab_readmit.pipelines.reporting.nodes import (
    ReportSettings,
    draw_comparison_charts,
    render_html_report,
    tabulate_latest_versions,
    tabulate_version_history,
)
from diab_readmit.pipelines.training import figures

from ...conftest import headless
from .conftest import make_history, png_bytes

#: Measures, in the page itself, what a reader would have to scroll sideways for, and how
#: large each image is drawn (for the size of the text inside it).
MEASURE = """<script>
window.addEventListener("load", () => {
  const clipped = [...document.querySelectorAll(".wide, table, figure")]
    .filter((element) => element.scrollWidth > element.clientWidth + 1 || element.getBoundingClientRect().right > window.innerWidth + 1)
    .map((element) => element.tagName + "." + element.className + ":" + element.scrollWidth + "/" + element.clientWidth + "/" + Math.round(element.getBoundingClientRect().right) + "/" + (element.querySelector("img") || {}).alt);
  const page = document.documentElement.scrollWidth;
  const images = [...document.querySelectorAll("figure img")].map((image) => ({alt: image.alt, natural: image.naturalWidth, shown: Math.round(image.getBoundingClientRect().width)}));
  document.body.setAttribute("data-measured", JSON.stringify({page, viewport: window.innerWidth, clipped}));
  document.body.setAttribute("data-images", JSON.stringify(images));
});
</script>"""

#: The smallest text a reader should have to read in a chart at 1280 px, in CSS pixels.
MIN_TEXT_PX = 11


def _evaluation_figures() -> dict[str, Figure]:
    """The training template's own confusion matrices and importance chart, with the
    longest feature labels of the feature dictionary and a realistic title."""
    rng = np.random.default_rng(0)
    scores = {
        window: {
            "y_true": (rng.random(2000) < 0.11).astype(int),
            "y_score": rng.random(2000) * 0.4,
        }
        for window in ("test", "oot")
    }
    names = sorted({label(n) for n in FEATURE_DICTIONARY}, key=len, reverse=True)[:20]
    values = pd.Series(
        np.linspace(0.3, 0.01, len(names)),
        index=names,
        name="mean |contribution| (log-odds, TreeSHAP), test window",
    )
    return {
        "confusion_matrices.png": figures.confusion_matrices(
            scores, 0.123456, "random forest"
        ),
        "importances.png": figures.importances(values, "logistic regression"),
    }


@pytest.fixture(scope="module")
def evaluation_figures() -> dict[str, Figure]:
    return _evaluation_figures()


@pytest.fixture(scope="module")
def report_page(tmp_path_factory, evaluation_figures) -> Path:
    """A report over three registered algorithms with every plot, the widest realistic table,
    the version history as the render node gets it (read back from its CSV), and
    hyperparameters as a search draws them."""
    plots = {
        **{name: png_bytes(name) for name in ("roc_curves.png", "calibration.png")},
        **{name: figure_png(figure) for name, figure in evaluation_figures.items()},
    }
    histories = [
        make_history("logistic_regression", [0.61, 0.62], plots=plots),
        make_history("random_forest", [0.63, 0.65], plots=plots),
        make_history("xgboost", [0.64, 0.66], plots=plots),
    ]
    histories[2]["latest"]["best_params"] = {
        "learning_rate": 0.05512345678901234,
        "max_depth": 4,
        "subsample": 0.7123456789012345,
    }
    for history in histories:
        for entry in history["versions"]:
            entry["gate"] = {"decision": "promoted", "reasons": []}
    settings = ReportSettings()
    comparison = tabulate_latest_versions(settings, *histories)
    folder = tmp_path_factory.mktemp("report")
    tabulate_version_history(*histories).to_csv(folder / "history.csv", index=False)
    history = pd.read_csv(folder / "history.csv")  # as reporting.version_history loads
    _, images = draw_comparison_charts(comparison, history, settings)
    page = folder / "model_comparison.html"
    page.write_text(
        render_html_report(comparison, history, images, settings, [], *histories)
    )
    return page


def _dom(chromium, page: Path, tmp_path: Path) -> str:
    measured_page = page.with_name("measured.html")
    measured_page.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = headless(
        chromium,
        tmp_path / "profile-dom",
        "--dump-dom",
        measured_page.as_uri(),
        window="1280,900",
    )
    assert dom.returncode == 0, f"chromium --dump-dom failed:\n{dom.stderr[-3000:]}"
    return dom.stdout


def test_the_rendered_text_has_no_missing_value_marks_or_raw_floats(
    chromium, report_page, tmp_path
):
    """Issue 25 item 9: "promoted nan", and hyperparameters printed with 16 digits."""
    dom = _dom(chromium, report_page, tmp_path)
    body = dom[dom.index("<body") :]
    shown = html.unescape(re.sub(r"<script.*?</script>|<[^>]+>", " ", body, flags=re.S))
    assert not re.search(r"\bnan\b", shown, flags=re.I), re.findall(
        r".{40}\bnan\b.{20}", shown, flags=re.I
    )
    # No version was promoted by hand, so no version says by whom.
    assert not re.search(r"promoted\s+(nan|—|None)", shown), shown[:2000]
    assert not re.search(r"\d\.\d{6,}", shown), re.findall(r".{30}\d\.\d{6,}", shown)
    assert "learning_rate=0.05512, max_depth=4, subsample=0.7123" in shown


def test_chart_text_fits_its_figure_and_reads_at_1280_px(
    chromium, report_page, evaluation_figures, tmp_path
):
    """Issue 25 item 9: clipped importance titles, confusion-matrix text too small."""
    for name, figure in evaluation_figures.items():
        renderer = FigureCanvasAgg(figure).get_renderer()
        figure.draw(renderer)
        # Everything drawn (titles, labels, ticks, text), in inches, against the figure.
        drawn, page = figure.get_tightbbox(renderer), figure.bbox_inches
        tolerance = 0.02
        assert (
            drawn.x0 >= page.x0 - tolerance
            and drawn.x1 <= page.x1 + tolerance
            and drawn.y0 >= page.y0 - tolerance
            and drawn.y1 <= page.y1 + tolerance
        ), f"{name}: drawn {drawn.bounds} runs past the figure {page.bounds} (inches)"
    dom = _dom(chromium, report_page, tmp_path)
    found = re.search(r'data-images="([^"]+)"', dom)
    assert found, "the measuring script did not run"
    images = json.loads(html.unescape(found.group(1)))
    confusion = evaluation_figures["confusion_matrices.png"]
    drawn = [i for i in images if i["alt"].lower().startswith("confusion")]
    assert drawn, images
    smallest_pt = min(
        artist.get_fontsize()
        for artist in confusion.findobj(Text)
        if artist.get_visible() and artist.get_text().strip()
    )
    for image in drawn:
        px = smallest_pt * confusion.dpi / 72 * image["shown"] / image["natural"]
        assert px >= MIN_TEXT_PX, (
            f"confusion-matrix text is {px:.1f} px at 1280 px (image {image})"
        )


def test_the_report_reads_at_1280_px_without_sideways_scrolling(
    chromium, report_page, tmp_path
):
    dom = _dom(chromium, report_page, tmp_path)
    found = re.search(r'data-measured="([^"]+)"', dom)
    assert found, "the measuring script did not run"
    measured = found.group(1).replace("&quot;", '"')

    assert '"clipped":[]' in measured, (
        f"cut off at 1280 px (needs sideways scrolling): {measured}"
    )
    page, viewport = map(
        int, re.search(r'"page":(\d+),"viewport":(\d+)', measured).groups()
    )
    assert page <= viewport, measured

    screenshot = tmp_path / "report-1280.png"
    shot = headless(
        chromium,
        tmp_path / "profile-shot",
        f"--screenshot={screenshot}",
        report_page.as_uri(),
        window="1280,900",
    )
    assert shot.returncode == 0 and screenshot.is_file(), (
        f"chromium --screenshot failed:\n{shot.stderr[-3000:]}"
    )
    # A blank white page is a few kB; the title, tables and first charts are far more.
    assert screenshot.stat().st_size > 40_000, f"screenshot {screenshot} looks blank"


def test_the_report_prints_on_a4_landscape(chromium, report_page, tmp_path):
    pdf = tmp_path / "report.pdf"
    printed = headless(
        chromium,
        tmp_path / "profile-pdf",
        f"--print-to-pdf={pdf}",
        "--no-pdf-header-footer",
        report_page.as_uri(),
    )
    assert printed.returncode == 0 and pdf.is_file(), (
        f"chromium --print-to-pdf failed:\n{printed.stderr[-3000:]}"
    )
    content = pdf.read_bytes()
    boxes = {
        tuple(round(float(v)) for v in box.split())
        for box in re.findall(rb"/MediaBox\s*\[([^\]]*)\]", content)
    }
    assert boxes == {(0, 0, 842, 595)}, (
        f"pages are not A4 landscape (the print CSS's @page): {boxes}"
    )
    assert 2 <= content.count(b"/Type /Page") <= 40
