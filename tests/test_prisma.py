"""The PRISMA 2020 diagram per claim: its numbers are the JSON report's PRISMA counts for every claim
(inline in the HTML and in the standalone .svg), the PRISMA2020 app's CSV carries the same numbers, and
the committed K2 reports hold a diagram for every claim."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import lxml.etree
import lxml.html
import pandas as pd
import pytest

from flows.project.claims import Project
from flows.reports.write import write_project_reports
from tests.test_report_fixtures import report_setup  # noqa: F401

Setup = tuple[Project, Path, Path]
SVG = "{http://www.w3.org/2000/svg}"
K2_REPORTS = Path(__file__).resolve().parent.parent / "reports" / "k2-muscle"


def numbers(svg: Any) -> dict[str, int]:
    """data-key → the number its text shows ("(n = 1,234)" or "…: n = 5" or "… (n = 5)")."""
    out: dict[str, int] = {}
    for el in svg.iter():
        key = el.get("data-key")
        if key is None:
            continue
        text = "".join(el.itertext())
        found = re.findall(r"(?:n = |: )([0-9][0-9,]*)\)?$", text)
        assert found, text
        value = int(found[-1].replace(",", ""))
        assert out.setdefault(key, value) == value, key  # a key shown twice shows one number
    return out


def expected(report: dict[str, Any]) -> dict[str, int]:
    p = report["prisma"]
    new = p["included"] if report["changes"]["first_report"] else len(report["changes"]["new_studies"])
    want = {
        "identified_total": p["identified_total"],
        "duplicates": p["duplicates"],
        "unique": p["unique"],
        "not_retrieved": p["not_retrieved"],
        "screened": p["screened"],
        "excluded_total": p["excluded_total"],
        "included": p["included"],
        "awaiting_grading": p["awaiting_grading"],
        "in_conflict": p["in_conflict"],
        "new_studies": new,
        "previous_studies": p["included"] - new,
        **{f"run:{r['run_id']}": r["n"] for r in p["identified_per_run"]},
        **{f"excluded:{e['reason']}": e["n"] for e in p["excluded_by_reason"]},
    }
    if p["included_retracted"]:
        want["included_retracted"] = p["included_retracted"]
    return want


def test_svg_numbers_equal_the_json_prisma_counts_for_every_claim(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    for claim in project.claims:
        report = json.loads((out / f"{claim.id}.json").read_text(encoding="utf-8"))
        page = lxml.html.fromstring((out / f"{claim.id}.html").read_text(encoding="utf-8"))
        (inline,) = page.xpath("//figure[@id='prisma-diagram']/svg")
        standalone = lxml.etree.fromstring((out / f"{claim.id}.prisma.svg").read_bytes())
        assert standalone.tag == f"{SVG}svg"
        assert numbers(inline) == numbers(standalone) == expected(report), claim.id
        assert report["prisma"]["identified_total"] > 0  # the fixture's claims were searched


def test_a_second_report_splits_previous_and_new_studies(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    write_project_reports(project, db, out)  # nothing changed: every study was in the previous report
    for claim in project.claims:
        report = json.loads((out / f"{claim.id}.json").read_text(encoding="utf-8"))
        shown = numbers(lxml.etree.fromstring((out / f"{claim.id}.prisma.svg").read_bytes()))
        assert shown == expected(report)
        if report["changes"]["first_report"] is False and not report["changes"]["new_studies"]:
            assert shown["new_studies"] == 0 and shown["previous_studies"] == report["prisma"]["included"]


def test_prisma2020_app_csv_has_the_templates_rows_and_the_same_numbers(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    for claim in project.claims:
        report = json.loads((out / f"{claim.id}.json").read_text(encoding="utf-8"))
        frame = pd.read_csv(out / f"{claim.id}.prisma2020.csv", dtype=str, keep_default_na=False)
        assert list(frame.columns) == [
            "data",
            "node",
            "box",
            "description",
            "boxtext",
            "tooltips",
            "url",
            "n",
        ]
        n = dict(zip(frame["data"], frame["n"], strict=False))
        p = report["prisma"]
        assert int(n["database_results"]) == p["identified_total"]
        assert int(n["duplicates"]) == p["duplicates"]
        assert int(n["records_screened"]) == p["unique"]
        assert int(n["dbr_notretrieved_reports"]) == p["not_retrieved"]
        assert int(n["dbr_assessed"]) == p["screened"]
        assert int(n["total_studies"]) == p["included"]
        assert int(n["previous_studies"]) + int(n["new_studies"]) == p["included"]
        for e in p["excluded_by_reason"]:
            assert f"{e['label']}, {e['n']}" in n["dbr_excluded"]


@pytest.mark.skipif(not K2_REPORTS.is_dir(), reason="committed K2 reports not in this checkout")
def test_committed_k2_reports_hold_a_diagram_for_every_claim() -> None:
    for path in sorted(K2_REPORTS.glob("*.json")):
        if path.name == "index.json":
            continue
        report = json.loads(path.read_text(encoding="utf-8"))
        svg = lxml.etree.fromstring((K2_REPORTS / f"{path.stem}.prisma.svg").read_bytes())
        assert numbers(svg) == expected(report), path.stem
