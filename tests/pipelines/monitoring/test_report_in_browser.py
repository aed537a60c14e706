"""The monitoring report as Chromium draws it: every chart loads, the status and the drifted
inputs are on the page, it reads at 1280 px and prints on A4 landscape.

Needs Debian's ``chromium`` (``make browser`` installs it once).
"""

from __future__ import annotations

import re

import pytest

from ...conftest import headless
from .test_nodes import PLANTED, monitor

#: Written into the page by a script once it has loaded: what a reader would see.
MEASURE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map((image) => image.naturalWidth);
  const page = document.documentElement.scrollWidth;
  const banner = document.querySelector(".status").textContent;
  document.body.setAttribute("data-measured", JSON.stringify({images, page, viewport: window.innerWidth, banner}));
});
</script>"""


@pytest.fixture(scope="module")
def report_page(world, tmp_path_factory):
    month = world["drifted"]
    html = monitor(world, month["predictions"], month["gold"])["html"]
    page = tmp_path_factory.mktemp("monitoring") / "monitoring_report.html"
    page.write_text(html)
    return page


def test_the_page_shows_the_alert_the_drifted_inputs_and_every_chart(
    chromium, report_page, tmp_path
):
    measured = report_page.with_name("measured.html")
    measured.write_text(report_page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = headless(
        chromium,
        tmp_path / "profile-dom",
        "--dump-dom",
        measured.as_uri(),
        window="1280,900",
    )
    assert dom.returncode == 0, dom.stderr[-3000:]
    found = re.search(r'data-measured="([^"]+)"', dom.stdout)
    assert found, "the measuring script did not run"
    result = found.group(1).replace("&quot;", '"')
    images = [
        int(w) for w in re.search(r'"images":\[([^\]]*)\]', result).group(1).split(",")
    ]
    assert len(images) == 4 and min(images) > 300, f"a chart did not load: {result}"
    assert '"banner":"alert"' in result
    page, viewport = map(
        int, re.search(r'"page":(\d+),"viewport":(\d+)', result).groups()
    )
    assert page <= viewport, f"sideways scrolling at 1280 px: {result}"
    text = re.sub(r"<[^>]+>", " ", dom.stdout)
    assert all(feature in text for feature in PLANTED)
    assert "Inputs drifted beyond the alert threshold" in text


def test_the_page_prints_on_a4_landscape(chromium, report_page, tmp_path):
    pdf = tmp_path / "monitoring.pdf"
    printed = headless(
        chromium,
        tmp_path / "profile-pdf",
        f"--print-to-pdf={pdf}",
        "--no-pdf-header-footer",
        report_page.as_uri(),
    )
    assert printed.returncode == 0 and pdf.is_file(), printed.stderr[-3000:]
    boxes = {
        tuple(round(float(v)) for v in box.split())
        for box in re.findall(rb"/MediaBox\s*\[([^\]]*)\]", pdf.read_bytes())
    }
    assert boxes == {(0, 0, 842, 595)}
