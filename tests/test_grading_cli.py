"""The grading commands, run through the real `litgrade` entry point (in-process; `grade` in a pty)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sys
from pathlib import Path

import pexpect
import pytest

from flows.curation.journal import append_event, grades_path, read_events
from flows.pubmed.records import Article, Journal, PubDate
from tests.cli_helpers import run_cli
from tests.grading_fixtures import build_store, ev, k2_articles, write_project

CLAIM = "k2-calcification"
LITGRADE = Path(sys.executable).parent / "litgrade"


@pytest.fixture()
def graded_project(tmp_path: Path, tmp_db: Path) -> tuple[Path, list[Article]]:
    folder = write_project(tmp_path)
    articles = k2_articles(3)
    hostile = Article(
        pmid="40000001", title='=HYPERLINK("http://evil.invalid","x")',
        journal=Journal(title="\x1b]0;pwned\x07J Evil"), pub_date=PubDate(raw="2020", sort_date="2020-01-01"),
    )
    build_store(tmp_db, folder.name, {CLAIM: [*articles, hostile], "k2-bone": articles[:1]})
    return folder, [*articles, hostile]


def test_every_command_has_an_example_in_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["grade"], ["agreement"], *(["grades", c] for c in ("set", "retract", "export", "import", "repair", "load"))):
        result = run_cli(capsys, *args, "--help")
        assert result.code == 0, result.err
        assert "Example: litgrade " in result.out, args


def test_grades_set_appends_and_refuses_undeclared_curator(
    capsys: pytest.CaptureFixture[str], graded_project: tuple[Path, list[Article]]
) -> None:
    folder, articles = graded_project
    pmid = articles[0].pmid
    ok = run_cli(capsys, "grades", "set", str(folder), CLAIM, pmid, "--curator", "alice", "--relevance", "include",
                 "--level", "rct", "--direction", "supports", "--population", "120", "--risk-of-bias", "low",
                 "--quote", "fewer events", "--note", "n")
    assert ok.code == 0, ok.err
    [event] = read_events(folder)
    assert (event.level, event.direction, event.population, event.risk_of_bias) == ("rct", "supports", 120, "low")
    bad = run_cli(capsys, "grades", "set", str(folder), CLAIM, pmid, "--curator", "dave", "--level", "rct",
                  "--direction", "supports")
    assert bad.code == 2
    assert bad.err.startswith("litgrade: curator 'dave' is not declared in ")
    assert "Traceback" not in bad.err
    wrong = run_cli(capsys, "grades", "set", str(folder), CLAIM, pmid, "--curator", "bob", "--level", "rtc",
                    "--direction", "supports")
    assert wrong.code == 2 and "field 'level': 'rtc' is not one of" in wrong.err
    adj = run_cli(capsys, "grades", "set", str(folder), CLAIM, pmid, "--curator", "bob", "--adjudicate",
                  "--level", "rct", "--direction", "supports")
    assert adj.code == 2 and "not an adjudicator" in adj.err
    assert len(read_events(folder)) == 1
    undo = run_cli(capsys, "grades", "retract", str(folder), CLAIM, pmid, "--curator", "alice")
    assert undo.code == 0 and read_events(folder)[-1].kind == "retract"


def _sheet(capsys: pytest.CaptureFixture[str], folder: Path, curator: str) -> list[dict[str, str]]:
    result = run_cli(capsys, "grades", "export", str(folder), "--curator", curator, "--claim", CLAIM)
    assert result.code == 0, result.err
    return list(csv.DictReader(io.StringIO(result.out)))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_export_lists_the_queue_with_details_and_defuses_formulas(
    capsys: pytest.CaptureFixture[str], graded_project: tuple[Path, list[Article]]
) -> None:
    folder, articles = graded_project
    append_event(folder, ev("alice", articles[1].pmid))
    rows = _sheet(capsys, folder, "alice")
    assert articles[1].pmid == "15514282"
    assert [r["pmid"] for r in rows] == ["28620475", "40000001", "9052783"]  # claim hit order, minus graded
    first, expected = rows[0], articles[2]
    assert (first["title"], first["journal"]) == (expected.title, expected.journal.title)
    assert first["year"] == str(expected.pub_date.year)
    assert first["relevance"] == first["level"] == ""
    hostile = rows[1]
    assert hostile["title"].startswith("'=HYPERLINK")
    assert hostile["journal"] == "]0;pwnedJ Evil"  # control characters dropped
    # Bob is blind to Alice's grade and still has all four to do.
    assert len(_sheet(capsys, folder, "bob")) == 4


def test_import_is_all_or_nothing_with_row_numbered_errors(
    capsys: pytest.CaptureFixture[str], graded_project: tuple[Path, list[Article]], tmp_path: Path
) -> None:
    folder, _ = graded_project
    rows = _sheet(capsys, folder, "alice")
    rows[0].update(relevance="include", level="rct", direction="supports", population="4807")
    rows[1].update(relevance="include", level="rtc", direction="supports")  # row 3: typo
    rows[2].update(relevance="exclude")  # row 4: no reason
    sheet = tmp_path / "sheet.csv"
    _write(sheet, rows)
    bad = run_cli(capsys, "grades", "import", str(sheet), "--curator", "alice")
    assert bad.code == 2
    assert "2 problem(s)" in bad.err and "nothing was imported" in bad.err
    assert f"{sheet}:row 3: field 'level': 'rtc' is not one of" in bad.err
    assert f"{sheet}:row 4: field 'exclude_reason': is required here" in bad.err
    assert not grades_path(folder, "alice").exists()

    rows[1].update(level="animal")
    rows[2].update(exclude_reason="wrong_population")
    rows[3].update(pmid="99999999", relevance="include", level="rct", direction="supports")  # not a hit
    _write(sheet, rows)
    bad = run_cli(capsys, "grades", "import", str(sheet), "--curator", "alice")
    assert bad.code == 2 and f"{sheet}:row 5: field 'pmid': 99999999 is not among" in bad.err
    assert not grades_path(folder, "alice").exists()

    rows[3].update(pmid=rows[3]["pmid"] if rows[3]["pmid"] != "99999999" else "9052783", relevance="",
                   level="", direction="")  # left blank: not graded yet
    _write(sheet, rows)
    ok = run_cli(capsys, "grades", "import", str(sheet), "--curator", "alice")
    assert ok.code == 0, ok.err
    events = read_events(folder)
    assert [(e.pmid, e.relevance, e.level, e.exclude_reason, e.population) for e in events] == [
        (rows[0]["pmid"], "include", "rct", None, 4807),
        (rows[1]["pmid"], "include", "animal", None, None),
        (rows[2]["pmid"], "exclude", None, "wrong_population", None),
    ]
    denied = run_cli(capsys, "grades", "import", str(sheet), "--curator", "mallory")
    assert denied.code == 2 and "curator 'mallory' is not declared" in denied.err


def test_agreement_repair_and_load(
    capsys: pytest.CaptureFixture[str], graded_project: tuple[Path, list[Article]], tmp_db: Path
) -> None:
    folder, articles = graded_project
    a, b, c = (x.pmid for x in articles[:3])
    for i, (pmid, alice, bob) in enumerate([(a, "rct", "rct"), (b, "rct", "animal"), (c, "animal", "animal")]):
        append_event(folder, ev("alice", pmid, level=alice, minute=i))
        append_event(folder, ev("bob", pmid, level=bob, minute=i))
    result = run_cli(capsys, "agreement", str(folder))
    assert result.code == 0, result.err
    # level: alice rct rct animal, bob rct animal animal → p_o 2/3, p_e 2/3*1/3 + 1/3*2/3 = 4/9 → kappa 0.40
    assert "k2-calcification · alice × bob" in result.out
    # (two levels used: the linearly weighted kappa equals the plain one)
    assert "level         n=3    agreement   66.7%  kappa 0.40 (linear)" in result.out
    assert "direction     n=3    agreement  100.0%  kappa n/a" in result.out
    assert f"open conflicts: 1\n  k2-calcification: {b}" in result.out

    load = run_cli(capsys, "grades", "load", str(folder))
    assert load.code == 0 and "loaded 6 grade event(s), 2 final grade(s)" in load.out

    with grades_path(folder, "bob").open("ab") as handle:
        handle.write(b'{"claim":"k2-calc')
    broken = run_cli(capsys, "agreement", str(folder))
    # bob's file is quarantined (named, with the fix); the command still answers for everyone else
    assert broken.code == 0 and "bob.jsonl:4: torn last line" in broken.err
    assert "litgrade grades repair k2-demo --curator bob" in broken.err
    fixed = run_cli(capsys, "grades", "repair", str(folder), "--curator", "bob")
    assert fixed.code == 0 and ".bad-" in fixed.out
    assert run_cli(capsys, "agreement", str(folder)).code == 0


def _suggest(db: Path, article: Article, level: str, confidence: float, reason: str) -> None:
    import datetime as dt

    from flows.curation.suggest import Suggestion
    from flows.store.db import connect
    from flows.store.suggestions import save_suggestions

    with connect(db) as con:
        save_suggestions(con, [(article, Suggestion(level, confidence, (reason,)))], dt.datetime(2026, 11, 24))


def _signal_state(pid: int) -> str:
    """The kernel's view of a process's signals (masks in hex) and where it sleeps."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = [line for line in status if line.startswith(("State", "SigPnd", "ShdPnd", "SigBlk", "SigIgn"))]
    wchan = Path(f"/proc/{pid}/wchan").read_text()
    return "; ".join([*fields, f"wchan: {wchan}"])


def _as_a_foreground_job() -> None:
    """What a shell does for the job it starts in the foreground: Ctrl-C's signal back to its default.
    A test run that was itself started in the background (`make test &`) ignores SIGINT, and a child
    inherits that: its ^C would go nowhere (seen on a CI run started so)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _spawn(folder: Path, db: Path, curator: str, *extra: str) -> pexpect.spawn:
    env = {**os.environ, "LITGRADE_DB": str(db), "COLUMNS": "100", "LINES": "40", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    return pexpect.spawn(
        str(LITGRADE), ["grade", str(folder), "--claim", CLAIM, "--curator", curator, *extra],
        env=env, encoding="utf-8", timeout=20, dimensions=(40, 100), preexec_fn=_as_a_foreground_job,
    )


def test_interactive_session_in_a_real_pty(graded_project: tuple[Path, list[Article]], tmp_db: Path) -> None:
    folder, articles = graded_project
    first, second = "15514282", "28620475"  # claim hits come in (run, pmid) order
    _suggest(tmp_db, articles[0], "animal", 0.8, "mice lacking MGP")
    append_event(folder, ev("bob", first, level="human_observational"))
    child = _spawn(folder, tmp_db, "alice")
    child.expect(r"PMID 15514282 · 4 left for alice")
    screen = child.before + child.after
    child.expect("quit")
    screen += child.before
    assert "Graded by bob" not in screen  # blind: alice has not graded it yet
    # The claim's query terms are highlighted in the title/abstract.
    assert "\x1b[1;33mmenaquinone\x1b[0m" in screen.lower() or "\x1b[1;33mMenaquinone\x1b[0m" in screen

    child.send("3")
    child.expect("Direction:")
    child.send("z")
    child.expect("'z' is not one of s, c, n, m, u")
    child.send("s")
    child.expect("Saved: include · Human observational · Supports")
    child.expect(r"PMID 28620475 · 3 left for alice")
    assert [e.pmid for e in read_events(folder) if e.curator == "alice"] == [first]  # saved at once

    child.send("b")  # back to the study just graded: now bob's grade is visible
    child.expect(r"PMID 15514282")
    child.expect("Graded by bob: include · Human observational · Supports")
    child.send("t")
    child.expect("Note")
    child.sendline("checked the full text")
    child.expect("Saved: include · Human observational · Supports · note: checked the full text")
    child.send(" ")  # on to the next study (this one is graded: nothing is skipped)

    child.expect(r"PMID 28620475 · 3 left")
    child.send("x")
    child.expect("Exclude because:")
    child.send("2")
    child.expect(r"Saved: exclude \(Wrong population\)")
    child.expect(r"PMID 40000001")
    screen = child.before
    child.expect("quit")
    screen += child.before
    assert "\x1b]0;pwned" not in screen and "J Evil" in screen  # terminal escapes from outside text stripped
    child.send("a")
    child.expect("No suggested level for this study")
    child.send(" ")
    child.expect("Skipped.")
    child.expect(r"PMID 9052783")
    child.expect(r"Suggested level: Animal \(80%\) — press a to accept")
    child.expect("because: mice lacking MGP")
    child.send("a")
    child.expect("Level: Animal")
    child.expect("Direction:")
    child.send("u")
    child.expect("Saved: include · Animal · Unclear")
    child.expect(r"Nothing left to grade for k2-calcification \(1 skipped\)\. Saved 4 this session\.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    again = _spawn(folder, tmp_db, "alice")  # a skipped study is still waiting next time
    again.expect(r"PMID 40000001 · 1 left for alice")
    again.expect("quit")
    again.send("q")
    again.expect("Saved 0 this session; 1 left for alice on k2-calcification. Bye.")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0

    lines = [json.loads(x) for x in grades_path(folder, "alice").read_text(encoding="utf-8").splitlines()]
    assert [(x["pmid"], x.get("level"), x.get("exclude_reason"), x.get("note")) for x in lines] == [
        (first, "human_observational", None, None),
        (first, "human_observational", None, "checked the full text"),
        (second, None, "wrong_population", None),
        ("9052783", "animal", None, None),
    ]


def test_interactive_session_refuses_undeclared_curator_in_one_line(
    graded_project: tuple[Path, list[Article]], tmp_db: Path
) -> None:
    folder, _ = graded_project
    child = _spawn(folder, tmp_db, "mallory")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert "litgrade: curator 'mallory' is not declared" in child.before
    assert "Traceback" not in child.before


def test_adjudicator_settles_a_conflict_in_the_pty(graded_project: tuple[Path, list[Article]], tmp_db: Path) -> None:
    from flows.curation.review import final_grades
    from flows.project.claims import load_project

    folder, _ = graded_project
    pmid = "28620475"
    append_event(folder, ev("alice", pmid, level="rct", direction="supports"))
    append_event(folder, ev("bob", pmid, level="rct", direction="no_effect", minute=1))
    append_event(folder, ev("bob", "15514282", minute=2))  # partial: not a conflict
    child = _spawn(folder, tmp_db, "carol", "--adjudicate")
    child.expect(r"PMID 28620475 · 1 conflict\(s\) open")
    child.expect("Graded by alice: include · Randomised controlled trial · Supports")
    child.expect("Graded by bob: include · Randomised controlled trial · No effect")
    child.expect("quit")
    child.send("5")
    child.expect("Direction:")
    child.send("m")
    child.expect("Saved: adjudicated: include · Randomised controlled trial · Mixed")
    child.expect("Nothing left to grade")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    single, final = final_grades(load_project(folder), read_events(folder))  # PMID order
    assert (final.pmid, final.direction, final.decided_by) == (pmid, "mixed", "adjudication")
    assert (single.pmid, single.decided_by) == ("15514282", "single")  # one independent grade so far

    refused = _spawn(folder, tmp_db, "bob", "--adjudicate")
    refused.expect(pexpect.EOF)
    refused.close()
    assert refused.exitstatus == 2 and "'bob' is a curator, not an adjudicator" in refused.before


def test_ctrl_c_leaves_the_terminal_sane_and_keeps_saved_grades(
    graded_project: tuple[Path, list[Article]], tmp_db: Path
) -> None:
    folder, _ = graded_project
    child = _spawn(folder, tmp_db, "bob")
    child.expect("quit")
    child.send("x")
    child.expect("Exclude because:")
    child.send("1")
    child.expect(r"Saved: exclude \(Off topic\)")
    child.expect("quit")
    child.sendintr()
    try:
        child.expect("Interrupted: saved 1 this session; everything saved is kept.")
    except pexpect.TIMEOUT:
        pytest.fail(f"no answer to Ctrl-C; the child: {_signal_state(child.pid)}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert [(e.curator, e.exclude_reason) for e in read_events(folder)] == [("bob", "off_topic")]
