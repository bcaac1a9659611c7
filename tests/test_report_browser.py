"""A claim report and the scorecard rendered in headless Chromium: self-contained, inert hostile text,
readable on a phone; screenshots in test-artifacts/ (look at them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows.project.claims import Project
from flows.reports.write import write_project_reports
from tests.test_report_fixtures import report_setup  # noqa: F401
from tests.web_fixtures import CHROMIUM_ARGS

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def test_report_renders_in_chromium(report_setup: tuple[Project, Path, Path]) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    project, db, out = report_setup
    write_project_reports(project, db, out)
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.on("request", lambda r: requests.append(r.url))

            def dismiss(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", dismiss)
            page.goto((out / "k2-vessels.html").as_uri())
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            # hostile text is shown as text, never run or turned into elements
            assert page.locator("script").count() == 0
            assert page.locator("img").count() == 0
            assert page.locator("[onerror], [onmouseover], [onload]").count() == 0
            assert "<script>alert(1)</script>" in page.locator("#pmid-1002 .cite strong").inner_text()
            assert page.locator("#pmid-1002 .cite strong i").count() == 1  # the safe subset still renders
            assert '<i class="x">study' in page.locator("#pmid-1002 .cite strong").inner_text()
            assert page.locator("svg").count() == 2  # the evidence matrix and the PRISMA 2020 diagram
            assert page.locator("svg.prisma-flow").is_visible()
            assert page.locator(".flag").first.is_visible()
            assert "Supports ⊕◯◯◯ Very low certainty" in page.locator("#rating").inner_text()
            # the Summary-of-Findings table comes before the search and evidence sections
            sof = page.locator("table.sof")
            assert sof.locator("tbody tr").count() == 1
            assert "⊕◯◯◯" in sof.inner_text()
            assert page.locator("ol.footnotes li").count() >= 1
            assert page.evaluate(
                "document.querySelector('table.sof').compareDocumentPosition("
                "document.querySelector('svg')) & Node.DOCUMENT_POSITION_FOLLOWING"
            )
            # readable on a phone: nothing wider than the screen but scrollable tables
            page.set_viewport_size({"width": 375, "height": 700})
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375
            page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
            page.goto((out / "index.html").as_uri())
            page.set_viewport_size({"width": 1000, "height": 700})
            page.screenshot(path=str(ARTIFACTS / "report-index.png"), full_page=True)
            assert page.locator("tbody tr").count() == 2
            page.emulate_media(media="print")
            assert page.locator("svg").count() == 1
            pdf = page.pdf(path=str(ARTIFACTS / "report-index.pdf"), format="A4")
            assert pdf.startswith(b"%PDF") and len(pdf) > 5000  # printable
        finally:
            browser.close()
    assert dialogs == []
    assert all(u.startswith("file://") for u in requests), requests  # self-contained: no outside fetches
