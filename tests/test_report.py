"""Reports end to end on a real DuckDB store and real grade files: PRISMA boxes reconcile with direct
SQL, output is byte-identical for the same inputs, hostile text stays text, JSON matches its schema,
changes since the previous report, offline-snapshot statement, and the store left untouched."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import lxml.html
import pytest

from flows.curation.journal import append_events
from flows.project.claims import Project
from flows.reports.model import snapshot_sentence
from flows.reports.render import inline_html, md
from flows.reports.write import RENDER_STATE, write_project_reports
from flows.store import searches
from flows.store.db import connect
from flows.store.grades import load_project_grades
from tests.test_report_fixtures import PROJECT, build_store, ev, report_setup, write_project  # noqa: F401

Setup = tuple[Project, Path, Path]
SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "report.schema.json"
SNAPSHOT_SENTENCE = "This evidence rests on an offline snapshot of 44 records, not a live PubMed search."


def load(out: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((out / name).read_text(encoding="utf-8")))


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_writes_every_file_and_says_what_it_concluded(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    summary = write_project_reports(project, db, out)
    names = {f"{c}.{x}" for c in ("k2-vessels", "k2-cramps", "index") for x in ("html", "md", "json")}
    names |= {f"{c}.sof.{x}" for c in ("k2-vessels", "k2-cramps") for x in ("csv", "md")}
    names |= {f"{c}.{x}" for c in ("k2-vessels", "k2-cramps") for x in ("prisma.svg", "prisma2020.csv")}
    assert {p.name for p in summary.files} == names == {p.name for p in out.iterdir()} - {RENDER_STATE}
    lines = summary.lines()
    assert lines[0].startswith(f"wrote 17 files for 2 claim(s) of {PROJECT}")
    assert "- k2-vessels: Supports · very low certainty (randomised-evidence; 5 included, 1 to grade, 1 in conflict)" in lines
    assert "- k2-cramps: Supports · very low certainty (observational-evidence; 1 included, 1 to grade)" in lines
    vessels = load(out, "k2-vessels.json")
    # "evidence as of" is the last *completed* run's finish, not the later failed one, not the clock
    assert vessels["search"]["evidence_as_of"] == "2026-11-01T06:00:00"
    assert vessels["rating"]["rests_on"] == ["1001", "1002", "1006"]  # 1006: one reviewer so far
    assert vessels["rating"]["retracted_not_counted"] == ["1003"]
    assert [g["level"] for g in vessels["studies"]] == ["rct", "animal"]  # best level first
    assert vessels["studies"][0]["studies"][-1]["pmid"] == "1003"  # retracted last in its group
    assert [f["pmid"] for f in vessels["flags"]] == ["1003", "1004"]
    assert [(x["pmid"], x["reason"], x["expression_of_concern"]) for x in vessels["excluded"]] == [
        ("1004", "off_topic", True)
    ]
    html = (out / "k2-vessels.html").read_text()
    assert html.count("Retracted") >= 3 and "Expression of concern" in html
    vessels_md = (out / "k2-vessels.md").read_text()
    assert "⚠ RETRACTED" in vessels_md
    assert "| 3 | 2026-11-15 06:00 UTC | failed | eutils | — | 0 | — | **error** NCBI answered 503 |" in vessels_md


def _one(con: Any, sql: str, *params: object) -> int:
    row = con.execute(sql, list(params)).fetchone()
    return int(row[0]) if row else 0


STANDING = """
    WITH latest AS (
        SELECT *, row_number() OVER (PARTITION BY claim_id, pmid, curator ORDER BY seq DESC) AS rn
        FROM grade_events WHERE project = ?),
    standing AS (SELECT * FROM latest WHERE rn = 1 AND kind <> 'retract'),
    per AS (
        SELECT claim_id, pmid,
               count(*) FILTER (WHERE kind = 'grade') AS n,
               count(DISTINCT CASE WHEN relevance = 'exclude' THEN 'x'
                     ELSE relevance || '|' || level || '|' || direction END) FILTER (WHERE kind = 'grade') AS k,
               count(*) FILTER (WHERE kind = 'adjudication') AS adj
        FROM standing GROUP BY claim_id, pmid)
"""


@pytest.mark.parametrize("claim", ["k2-vessels", "k2-cramps"])
def test_prisma_boxes_reconcile_with_direct_queries(report_setup: Setup, claim: str) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    box = load(out, f"{claim}.json")["prisma"]
    hits = "FROM claim_hits h WHERE h.project = ? AND h.claim_id = ?"
    finals = "FROM final_grades f JOIN claim_hits h ON h.project = f.project AND h.claim_id = f.claim_id AND h.pmid = f.pmid WHERE f.project = ? AND f.claim_id = ?"
    with connect(db) as con:
        load_project_grades(con, project)  # what `litgrade grades load` does: the report itself never writes
        per_run = dict(
            con.execute(
                "SELECT r.run_id, count(rh.pmid) FROM search_runs r LEFT JOIN run_hits rh USING (run_id) "
                "WHERE r.project = ? AND r.claim_id = ? GROUP BY r.run_id",
                [PROJECT, claim],
            ).fetchall()
        )
        total = _one(
            con,
            "SELECT count(*) FROM run_hits JOIN search_runs USING (run_id) WHERE project = ? AND claim_id = ?",
            PROJECT,
            claim,
        )
        distinct = _one(
            con,
            "SELECT count(DISTINCT pmid) FROM run_hits JOIN search_runs USING (run_id) WHERE project = ? AND claim_id = ?",
            PROJECT,
            claim,
        )
        unique = _one(con, f"SELECT count(*) {hits}", PROJECT, claim)
        missing = _one(
            con, f"SELECT count(*) {hits} AND h.pmid NOT IN (SELECT pmid FROM articles)", PROJECT, claim
        )
        excluded = dict(
            con.execute(
                f"SELECT f.exclude_reason, count(*) {finals} AND f.relevance = 'exclude' GROUP BY 1",
                [PROJECT, claim],
            ).fetchall()
        )
        included = _one(con, f"SELECT count(*) {finals} AND f.relevance = 'include'", PROJECT, claim)
        retracted = _one(
            con,
            f"SELECT count(*) {finals} AND f.relevance = 'include' AND f.pmid IN (SELECT pmid FROM articles WHERE is_retracted)",
            PROJECT,
            claim,
        )
        screened = _one(con, f"SELECT count(*) {finals}", PROJECT, claim)
        conflict = _one(
            con,
            STANDING + "SELECT count(*) FROM per JOIN claim_hits h USING (claim_id, pmid) "
            "WHERE h.project = ? AND per.claim_id = ? AND adj = 0 AND n >= 2 AND k > 1",
            PROJECT,
            PROJECT,
            claim,
        )
        awaiting = (
            _one(
                con,
                f"SELECT count(*) {hits} AND h.pmid NOT IN (SELECT pmid FROM final_grades WHERE project = ? AND claim_id = ?)",
                PROJECT,
                claim,
                PROJECT,
                claim,
            )
            - conflict
        )
    assert {r["run_id"]: r["n"] for r in box["identified_per_run"]} == per_run
    assert box["identified_total"] == total
    assert box["duplicates"] == total - distinct
    assert box["unique"] == unique == distinct
    assert box["not_retrieved"] == missing
    assert {e["reason"]: e["n"] for e in box["excluded_by_reason"]} == excluded
    assert box["excluded_total"] == sum(excluded.values())
    assert box["included"] == included
    assert box["included_retracted"] == retracted
    assert box["screened"] == screened
    assert box["in_conflict"] == conflict
    assert box["awaiting_grading"] == awaiting
    assert box["unique"] == box["screened"] + box["awaiting_grading"] + box["in_conflict"]
    if claim == "k2-vessels":  # the fixture's numbers, so the queries above are not vacuous
        assert (total, box["duplicates"], unique, missing, screened, conflict, awaiting) == (
            10,
            2,
            8,
            1,
            6,  # 1006, graded by one of two reviewers so far, counts as decided by a single reviewer
            1,
            1,
        )


def test_output_is_byte_identical_for_the_same_inputs(report_setup: Setup, tmp_path: Path) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    first = snapshot(out)
    write_project_reports(project, db, out)  # over its own previous report
    assert snapshot(out) == first
    other = tmp_path / "elsewhere"
    write_project_reports(project, db, other)  # from scratch, elsewhere
    assert snapshot(other) == first
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != RENDER_STATE]  # no temp files


def _parsed(html: str) -> Any:
    parser = lxml.html.HTMLParser(no_network=True, huge_tree=False)
    return lxml.html.document_fromstring(html.encode("utf-8"), parser=parser)


def test_hostile_text_never_becomes_markup(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    for name in ("k2-vessels.html", "index.html", "k2-cramps.html"):
        doc = _parsed((out / name).read_text())
        assert not doc.xpath("//script | //img | //iframe | //object | //embed"), name
        for el in doc.iter():
            if isinstance(el.tag, str):
                assert not [a for a in el.attrib if a.lower().startswith("on")], (
                    name,
                    el.tag,
                    dict(el.attrib),
                )
        for el in doc.xpath("//a[@href]"):
            assert el.get("href").startswith(("https://", "http://", "#")) or el.get("href").endswith(
                (".html", ".md", ".json", ".svg", ".csv")
            )
    vessels = _parsed((out / "k2-vessels.html").read_text())
    title = vessels.xpath("//*[@id='pmid-1002']//p[@class='cite']/strong")[0]
    assert "<script>alert(1)</script>" in title.text_content()  # shown, as text
    assert [i.text for i in title.xpath(".//i")] == ["Evil"]  # the parser's safe subset still renders
    assert not title.xpath(".//i[@class]")
    for name in ("k2-vessels.md", "index.md"):
        text = (out / name).read_text()
        assert "<script" not in text and "<img" not in text and "<b " not in text and "<svg" not in text, name
        assert "](javascript" not in text
    assert "\\]\\(javascript:alert\\(1\\)\\)" in (out / "k2-vessels.md").read_text()


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (
            "<i>a</i> <b>b</b> x<sup>2</sup><sub>i</sub><u>u</u>",
            "<i>a</i> <b>b</b> x<sup>2</sup><sub>i</sub><u>u</u>",
        ),
        ('<i onclick="x()">a</i>', "&lt;i onclick=&quot;x()&quot;&gt;a"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("<i>open <b>nested</i> rest", "<i>open <b>nested</b></i> rest"),
        ("</b>stray<i>unclosed", "stray<i>unclosed</i>"),
        ("<IMG SRC=x onerror=alert(1)>", "&lt;IMG SRC=x onerror=alert(1)&gt;"),
    ],
)
def test_inline_html_keeps_only_the_safe_subset(markup: str, expected: str) -> None:
    assert str(inline_html(markup)).replace("&#39;", "'") == expected


def test_markdown_escape() -> None:
    assert md("a *b* [c](javascript:x) <b>|") == "a \\*b\\* \\[c\\]\\(javascript:x\\) &lt;b&gt;\\|"
    assert md("two\nlines") == "two lines"


def test_json_matches_schema(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(out.glob("*.json")):
        errors = [e.message for e in validator.iter_errors(json.loads(path.read_text()))]
        assert errors == [], path.name
    broken = load(out, "k2-vessels.json")
    broken["rating"]["id"] = "excellent"
    assert list(validator.iter_errors(broken))


def test_changes_since_previous_report(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    assert load(out, "k2-vessels.json")["changes"]["first_report"] is True
    append_events(
        project.dir,
        [
            ev("bob", "1006", minute=10),  # agrees with alice: a new included RCT
            ev("carol", "1005", direction="no_effect", kind="adjudication", minute=11),  # null RCT
            ev("alice", "1001", direction="no_effect", population=150, risk_of_bias="low", minute=12),
            ev("bob", "1001", direction="no_effect", population=150, risk_of_bias="low", minute=12),
        ],
    )
    summary = write_project_reports(project, db, out)
    report = load(out, "k2-vessels.json")
    changes = report["changes"]
    assert changes["first_report"] is False
    assert changes["new_studies"] == ["1005"]  # 1006 already counted, as a single reviewer's grade
    # null RCTs against supporting ones (weighed per study: not every size is recorded)
    assert changes["rating_changed"] == {"from": "supports/very_low", "to": "mixed/very_low"}
    assert changes["grades_changed"] == [
        {
            "pmid": "1001",
            "fields": ["direction", "population"],
            "before": {"direction": "supports", "population": 120},
            "after": {"direction": "no_effect", "population": 150},
        }
    ]
    assert report["rating"]["rule_id"] == "randomised-evidence"
    assert [d["domain"] for d in report["rating"]["downgrades"]][:2] == ["risk_of_bias", "inconsistency"]
    assert "- k2-vessels: Mixed · very low certainty (randomised-evidence; 6 included, 1 to grade)" in summary.lines()
    html = (out / "k2-vessels.html").read_text()
    assert "Verdict changed</strong> from supports/very_low to mixed/very_low" in html
    assert "population 120 → 150" in (out / "k2-vessels.md").read_text()
    assert load(out, "index.json")["claims"][0]["rating_changed"] == {
        "from": "supports/very_low", "to": "mixed/very_low"}
    before = snapshot(out)
    write_project_reports(project, db, out)  # nothing new: the changes block is kept, bytes identical
    assert snapshot(out) == before
    staged = out.parent / "staging"
    write_project_reports(project, db, staged, previous_dir=out)  # staged, compared with the published
    assert snapshot(staged) == before
    # k2-cramps never changed, so it still says what it said first (regenerating never rewrites history)
    assert load(out, "k2-cramps.json")["changes"]["first_report"] is True


def test_mirror_runs_say_they_are_not_a_live_search(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    assert SNAPSHOT_SENTENCE in (out / "k2-cramps.html").read_text()
    assert SNAPSHOT_SENTENCE in (out / "k2-cramps.md").read_text()
    assert SNAPSHOT_SENTENCE in (out / "index.html").read_text()
    assert load(out, "k2-cramps.json")["search"]["snapshot_note"] == SNAPSHOT_SENTENCE
    assert SNAPSHOT_SENTENCE not in (out / "k2-vessels.html").read_text()  # a live (stand-in) search
    assert "no MeSH explosion" in (out / "k2-cramps.md").read_text()
    note = "Offline demo: {n} real PubMed records, frozen; not a live search."
    write_project_reports(project, db, out, snapshot_note=note)
    assert (
        "Offline demo: 44 real PubMed records, frozen; not a live search."
        in (out / "k2-cramps.md").read_text()
    )


def test_snapshot_note_from_the_run_itself(report_setup: Setup) -> None:  # noqa: F811
    _, db, _ = report_setup
    with connect(db) as con:
        run = searches.search_runs(con, PROJECT, "k2-cramps")[0]
    own = dataclasses.replace(
        run,
        source_detail=json.dumps(
            {"detail": "snapshot, 1,234 records", "snapshot_note": "Frozen set of {n}."}
        ),
    )
    assert snapshot_sentence(own, "ignored {n}") == "Frozen set of 1234."
    assert snapshot_sentence(dataclasses.replace(run, source_detail="mirror snapshot 2026-11-20")) == (
        "This evidence rests on an offline snapshot (mirror snapshot 2026-11-20), not a live PubMed search."
    )
    assert snapshot_sentence(dataclasses.replace(run, source="eutils")) is None


def test_project_never_searched(tmp_path: Path) -> None:
    project = write_project(tmp_path / "curated")
    out = tmp_path / "out"
    summary = write_project_reports(project, tmp_path / "empty.duckdb", out)
    assert [c.rating for c in summary.claims] == ["insufficient", "insufficient"]
    assert "evidence as of never searched" in summary.lines()[0]
    assert "No search has run for this claim yet" in (out / "k2-vessels.md").read_text()
    assert load(out, "index.json")["evidence_as_of"] is None


def test_unreadable_previous_report_starts_afresh(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    out.mkdir(parents=True)
    (out / "k2-vessels.json").write_text("{torn", encoding="utf-8")
    write_project_reports(project, db, out)
    assert load(out, "k2-vessels.json")["changes"]["first_report"] is True


def test_report_is_read_only_on_the_store(report_setup: Setup) -> None:  # noqa: F811
    """Another process holds the store read-only (as the web app does) for the whole report: the
    report neither waits for it nor changes a byte of the file."""
    import subprocess
    import sys

    project, db, out = report_setup
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with connect(db, read_only=True, wait_seconds=0):  # the holder really shares the file
            pass
        summary = write_project_reports(project, db, out)
    finally:
        holder.communicate("", timeout=30)
    assert len(summary.files) == 17  # html/md/json, SoF csv/md and PRISMA svg/csv per claim; the scorecard
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


def test_never_searched_report_creates_no_store(tmp_path: Path) -> None:
    project = write_project(tmp_path / "curated")
    write_project_reports(project, tmp_path / "none.duckdb", tmp_path / "out")
    assert not (tmp_path / "none.duckdb").exists()


def test_store_older_than_the_code_is_one_clear_error(tmp_path: Path) -> None:
    import duckdb

    from flows.errors import ConfigError

    project = write_project(tmp_path / "curated")
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as con:
        con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR)")
        con.execute("INSERT INTO schema_version VALUES (1, '001_core.sql')")
    with pytest.raises(ConfigError, match=r"old\.duckdb: the store's schema is older.*litgrade refresh"):
        write_project_reports(project, old, tmp_path / "out")


def test_pure_model_orders_levels_and_picks_newest_counted_study() -> None:
    import datetime as dt

    from flows.curation.events import FinalGrade
    from flows.project.claims import Claim, SourceArticle
    from flows.reports.model import ClaimInputs, build_claim_report, build_scorecard
    from flows.sources.runs import SearchRun
    from tests.test_report_fixtures import articles

    stored = {a.pmid: a for a in articles()}
    run = SearchRun(
        run_id=7,
        project="p",
        claim_id="c",
        query="q",
        query_hash="h",
        source="eutils",
        source_detail=None,
        query_translation="q[All Fields]",
        approximation=None,
        result_count=4,
        pmids_found=4,
        new_pmids=4,
        fetched=4,
        mindate=None,
        maxdate=None,
        incremental=False,
        errors={},
        warnings={"OutputMessage": ["x"]},
        missing_pmids=(),
        requests=2,
        started_at=dt.datetime(2026, 1, 1),
        finished_at=dt.datetime(2026, 1, 1, 0, 5),
        status="completed",
        error=None,
    )

    def fg(pmid: str, level: str, direction: str = "supports") -> FinalGrade:
        return FinalGrade(claim="c", pmid=pmid, relevance="include", level=level, direction=direction)

    inputs = ClaimInputs(
        project="p",
        article=SourceArticle(title="A", url="javascript:alert(1)"),
        claim=Claim(id="c", text="t", query="q"),
        runs=[run],
        identified={7: 4},
        hits=["1001", "1003", "1005", "1006", "9999"],
        articles=stored,
        final_grades=[
            fg("1001", "narrative_review"),
            fg("1005", "systematic_review"),
            fg("1003", "rct"),
            fg("1006", "rct", "mixed"),
            fg("4242", "rct"),
        ],  # 4242 was never a hit: ignored
    )
    report = build_claim_report(inputs)
    assert [g["level"] for g in report["studies"]] == ["systematic_review", "rct", "narrative_review"]
    assert report["article"]["url"] is None  # only http(s) links from outside data
    assert report["prisma"]["unique"] == 5 and report["prisma"]["included"] == 4
    assert report["history"][0]["ncbi_notes"] == ["OutputMessage: x"]
    assert report["search"]["evidence_as_of"] == "2026-01-01T00:05:00"
    card = build_scorecard("p", inputs.article, [report])
    row = card["claims"][0]
    assert row["newest_study"]["pmid"] == "1006"  # 2023; 1003 (2020) is retracted and never "newest"
    assert row["counts_by_level"]["rct"] == 1 and row["counts_by_level"]["narrative_review"] == 1
    assert [lv["id"] for lv in card["levels"]][-1] == "narrative_review"  # non-primary shown only when used
    assert "case_report" not in [lv["id"] for lv in card["levels"]]


@pytest.mark.slow  # two fresh interpreters importing the whole report stack
def test_identical_across_processes_with_different_hash_seeds(report_setup: Setup, tmp_path: Path) -> None:  # noqa: F811
    import os
    import subprocess
    import sys

    project, db, _ = report_setup
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"seed-{seed}"
        code = (
            "import sys; from pathlib import Path; from flows.reports.write import RENDER_STATE, write_project_reports; "
            "write_project_reports(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))"
        )
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, str(project.dir), str(db), str(out)], check=True, env=env,
                       cwd=Path(__file__).resolve().parent.parent, timeout=120)  # fmt: skip
        outs.append(snapshot(out))
    assert outs[0] == outs[1] and len(outs[0]) == 18  # 17 report files and the render state


def test_index_and_claim_json_carry_certainty_reasons_and_appraisal(report_setup: Setup) -> None:  # noqa: F811
    from flows.reports.sof import sof_csv

    project, db, out = report_setup
    write_project_reports(project, db, out)
    index = load(out, "index.json")
    down = {"risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias"}
    for row in index["claims"]:
        assert row["certainty"] in ("high", "moderate", "low", "very_low")
        assert row["downgrades"] and all(set(d) == {"domain", "reason"} and d["domain"] in down
                                         for d in row["downgrades"])  # fmt: skip
        assert row["upgrades"] == []
        assert row["rating"] == f"{row['direction']}/{row['certainty']}"
    vessels = load(out, "k2-vessels.json")
    study = vessels["studies"][0]["studies"][0]
    assert {"risk_of_bias", "population", "indirectness", "indirect_reason", "exposure", "outcome",
            "outcome_kind", "bias_domain"} <= set(study)  # fmt: skip
    # the SoF files beside the report are the JSON's table, and the table leads the HTML page
    assert (out / "k2-vessels.sof.csv").read_text(encoding="utf-8") == sof_csv(vessels["sof"])
    assert (out / "k2-vessels.sof.md").read_text(encoding="utf-8").startswith("# Summary of findings: ")
    html = (out / "k2-vessels.html").read_text(encoding="utf-8")
    assert html.index('<table class="sof">') < html.index("<h2>Search</h2>") < html.index("<h2>Evidence matrix</h2>")
    # "evidence as of" is a real run; beside it, the newest record the searches found (never a placeholder)
    newest = vessels["search"]["newest_record"]
    dated = [s["pub_date"] for g in vessels["studies"] for s in g["studies"] if s["pub_date"]]
    assert newest is not None and newest["sort_date"] >= max(dated)
    assert f"PMID {newest['pmid']}</a>, published {newest['date']}" in html


def test_scorecard_shows_a_study_behind_several_claims() -> None:
    from flows.reports.model import shared_studies

    def report(claim: str, *pmids: str, counted: bool = True) -> dict[str, Any]:
        studies = [{"pmid": p, "title": f"T{p}", "counted": counted} for p in pmids]
        return {"claim": {"id": claim}, "studies": [{"studies": studies}]}

    reports = [report("a", "42", "7"), report("b", "42"), report("c", "42", "7", counted=False), report("d", "9")]
    assert shared_studies(reports) == [
        {"pmid": "42", "pubmed_url": "https://pubmed.ncbi.nlm.nih.gov/42/", "title": "T42", "claims": ["a", "b"]}
    ]
