"""The HTML report as Chromium draws it: readable at 1280 px, and printed on A4 landscape.

Needs Debian's ``chromium`` (``bash tools/ensure_chromium.sh``, run by ``make test``);
without it the tests skip and say why.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diab_readmit.pipelines.reporting.nodes import (
    ReportSettings,
    draw_comparison_charts,
    render_html_report,
    tabulate_latest_versions,
    tabulate_version_history,
)

from ...conftest import headless
from .conftest import make_history, png_bytes

#: Measures, in the page itself, what a reader would have to scroll sideways for.
MEASURE = """<script>
window.addEventListener("load", () => {
  const clipped = [...document.querySelectorAll(".wide, table, figure")]
    .filter((element) => element.scrollWidth > element.clientWidth + 1 || element.getBoundingClientRect().right > window.innerWidth + 1)
    .map((element) => element.tagName + "." + element.className + ":" + element.scrollWidth + "/" + element.clientWidth + "/" + Math.round(element.getBoundingClientRect().right) + "/" + (element.querySelector("img") || {}).alt);
  const page = document.documentElement.scrollWidth;
  document.body.setAttribute("data-measured", JSON.stringify({page, viewport: window.innerWidth, clipped}));
});
</script>"""


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    """A report over three registered algorithms with every plot, the widest realistic table."""
    plots = {
        name: png_bytes(name)
        for name in ("roc_curves.png", "calibration.png", "importances.png")
    }
    histories = [
        make_history("logistic_regression", [0.61, 0.62], plots=plots),
        make_history("random_forest", [0.63, 0.65], plots=plots),
        make_history("xgboost", [0.64, 0.66], plots=plots),
    ]
    settings = ReportSettings()
    comparison = tabulate_latest_versions(settings, *histories)
    history = tabulate_version_history(*histories)
    _, images = draw_comparison_charts(comparison, history, settings)
    page = tmp_path_factory.mktemp("report") / "model_comparison.html"
    page.write_text(
        render_html_report(comparison, history, images, settings, [], *histories)
    )
    return page


def test_the_report_reads_at_1280_px_without_sideways_scrolling(
    chromium, report_page, tmp_path
):
    measured_page = report_page.with_name("measured.html")
    measured_page.write_text(
        report_page.read_text().replace("</body>", MEASURE + "</body>")
    )
    dom = headless(
        chromium,
        tmp_path / "profile-dom",
        "--dump-dom",
        measured_page.as_uri(),
        window="1280,900",
    )
    assert dom.returncode == 0, f"chromium --dump-dom failed:\n{dom.stderr[-3000:]}"
    found = re.search(r'data-measured="([^"]+)"', dom.stdout)
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
