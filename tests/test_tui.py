"""The terminal grader as a full screen: at 80×24 the header and the key legend stay on screen study
after study (the real `litgrade grade` in a pty, its output rendered by the pyte terminal emulator);
skip, back and maybe; conflict feedback on the spot; the appraisal fields reach the grade file."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pyte
import pytest

from flows.curation.journal import append_event, read_events
from flows.pubmed.records import Article
from flows.store.studies import load_studies
from flows.tui.screen import Screen, layout, pack_legend
from tests.grading_fixtures import build_store, ev, k2_articles, write_project

LITGRADE = Path(sys.executable).parent / "litgrade"
CLAIM = "k2-calcification"
COLUMNS, ROWS = 80, 24

OUTCOMES_YAML = """\
    population: adults
    exposure: vitamin K2 (menaquinones)
    outcomes:
      - {id: arterial-calcification, label: Arterial calcification, kind: surrogate}
      - {id: cv-events, label: Cardiovascular events, kind: clinical}
"""


class Pty:
    """`litgrade grade` in a real pty of 80×24, its output fed through a VT emulator."""

    def __init__(self, folder: Path, db: Path, curator: str) -> None:
        env = {**os.environ, "LITGRADE_DB": str(db), "TERM": "xterm-256color"}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        self.child = pexpect.spawn(
            str(LITGRADE), ["grade", str(folder), "--claim", CLAIM, "--curator", curator],
            env=env, encoding="utf-8", timeout=20, dimensions=(ROWS, COLUMNS),
        )  # fmt: skip
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.Stream(self.screen)
        self.transcript = ""

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def text(self) -> str:
        return "\n".join(self.lines())

    def wait_for(self, pattern: str, timeout: float = 20) -> str:
        """Feed output into the emulator until the screen shows `pattern`; returns the screen."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while not (regex.search(self.text()) or regex.search(" ".join(self.lines()))):  # or wrapped
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never showed {pattern!r}; it shows:\n{self.text()}")
            try:
                chunk = self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                raise AssertionError(f"exited before showing {pattern!r}:\n{self.text()}") from None
            self.transcript += chunk
            self.stream.feed(chunk)
        self.settle()
        return self.text()

    def settle(self, quiet: float = 0.25) -> None:
        """Read until the program has drawn nothing for `quiet` seconds (a frame arrives in pieces)."""
        while True:
            try:
                chunk = self.child.read_nonblocking(65536, timeout=quiet)
            except (pexpect.TIMEOUT, pexpect.EOF):
                return
            self.transcript += chunk
            self.stream.feed(chunk)

    def send(self, keys: str) -> None:
        self.child.send(keys)


@pytest.fixture()
def project(tmp_path: Path, tmp_db: Path) -> tuple[Path, list[Article]]:
    folder = write_project(tmp_path, reviewers=2)
    claims = (folder / "claims.yaml").read_text(encoding="utf-8")
    marker = "    query: 'menaquinone*[tiab] AND calcification[tiab]'\n"
    (folder / "claims.yaml").write_text(claims.replace(marker, marker + OUTCOMES_YAML), encoding="utf-8")
    articles = k2_articles(7)
    build_store(tmp_db, folder.name, {CLAIM: articles, "k2-bone": articles[:1]})
    return folder, articles


def assert_frame(lines: list[str]) -> None:
    """Header on the first rows, the whole legend on the last, nothing wider than the terminal."""
    assert lines[0].startswith("litgrade grade · k2-calcification · alice"), lines[0]
    assert re.match(r"(study \d+/7|review) · PMID \d+ · \d+ left for alice", lines[1]), lines[1]
    assert lines[2].startswith("Claim: Vitamin K2 keeps calcium out of the arteries.")
    while lines and not lines[-1]:
        lines = lines[:-1]
    legend = "\n".join(lines[-6:])
    for item in ("[1] In vitro", "[a] accept suggestion", "[x] exclude", "[?] maybe", "[space] skip",
                 "[b] back", "[t] note", "[r] retract mine", "[v] more text", "[q] quit", "[h] risk of bias",
                 "[n] sample size", "[e] exposure", "[i] indirectness", "[o] outcome", "[y] outcome kind"):
        assert item in legend, f"{item!r} missing from the legend:\n{legend}"


def test_header_and_legend_stay_on_an_80x24_screen_through_five_studies(
    project: tuple[Path, list[Article]], tmp_db: Path
) -> None:
    folder, _ = project
    pmids = load_studies(tmp_db, folder.name, [CLAIM], details=False).hits[CLAIM]  # the queue's order
    # bob graded the third study first: alice's different grade of it makes a conflict.
    append_event(folder, ev("bob", pmids[2], level="animal", direction="contradicts"))
    tui = Pty(folder, tmp_db, "alice")

    frame = tui.wait_for(rf"PMID {pmids[0]} · 7 left for alice")
    assert_frame(tui.lines())
    assert "Graded by bob" not in tui.transcript  # blind

    # Study 1: appraisal fields first, then level and direction save them all in one grade.
    tui.send("h")
    tui.wait_for("Risk of bias:")
    tui.send("1")  # low
    tui.wait_for("The domain that drove it:")
    tui.send("1")  # randomisation
    tui.wait_for("Appraisal kept")
    tui.send("n")
    tui.wait_for("Sample size")
    tui.send("4807\r")
    tui.send("i")
    tui.wait_for("Indirectness:")
    tui.send("2")
    tui.wait_for("Why indirect")
    tui.send("dietary K2 intake, not supplements\r")
    tui.send("o")
    tui.wait_for("Outcome:")
    tui.send("2")  # cardiovascular events (clinical, its usual kind)
    frame = tui.wait_for("outcome: Cardiovascular events · clinical outcome")
    assert_frame(tui.lines())
    tui.send("3")
    tui.wait_for("Direction:")
    tui.send("s")
    frame = tui.wait_for(rf"PMID {pmids[1]} · 6 left for alice")
    assert_frame(tui.lines())
    assert "Saved: include · Human observational · Supports · risk of bias low" in frame

    tui.send("?")  # study 2: maybe — it comes back after the others
    frame = tui.wait_for(rf"PMID {pmids[2]} · 6 left")
    assert_frame(tui.lines())
    assert "Maybe: set aside" in frame and "1 maybe" in tui.lines()[1]

    tui.send("5")  # study 3: rct/supports against bob's animal/contradicts
    tui.wait_for("Direction:")
    tui.send("s")
    frame = tui.wait_for(rf"PMID {pmids[3]} · 5 left")
    assert_frame(tui.lines())
    assert "Conflict: bob chose include · Animal · Contradicts" in frame.replace("\n", " ")

    tui.send(" ")  # study 4: skip
    frame = tui.wait_for(rf"PMID {pmids[4]} · 5 left")
    assert_frame(tui.lines())
    assert "Skipped." in frame

    tui.send("b")  # back to study 4
    frame = tui.wait_for(rf"PMID {pmids[3]} · 5 left")
    assert_frame(tui.lines())
    tui.send("x")
    tui.wait_for("Exclude because:")
    tui.send("1")
    frame = tui.wait_for(rf"PMID {pmids[4]} · 4 left")
    assert_frame(tui.lines())
    tui.send("v")  # page through a long abstract: the header and legend stay
    time.sleep(0.3)
    tui.wait_for(rf"PMID {pmids[4]}")
    assert_frame(tui.lines())

    tui.send("q")
    tui.child.expect(pexpect.EOF)
    tui.child.close()
    assert tui.child.exitstatus == 0
    assert "Saved 3 this session; 4 left for alice on k2-calcification. Bye." in tui.child.before
    mine = [e for e in read_events(folder) if e.curator == "alice"]
    assert [(e.pmid, e.relevance, e.level) for e in mine] == [
        (pmids[0], "include", "human_observational"),
        (pmids[2], "include", "rct"),
        (pmids[3], "exclude", None),
    ]
    first = mine[0]
    assert (first.risk_of_bias, first.bias_domain, first.population) == ("low", "randomization", 4807)
    assert (first.indirectness, first.indirect_reason) == ("indirect", "dietary K2 intake, not supplements")
    assert (first.outcome, first.outcome_kind) == ("cv-events", "clinical")


# -- the layout, without a terminal ------------------------------------------------------------
LEGEND = [("", "Include at level:"), ("1", "In vitro"), ("2", "Animal"), ("3", "Human observational"),
          ("5", "Randomised controlled trial"), ("6", "Systematic review / meta-analysis"),
          ("space", "skip"), ("r", "retract mine"), ("h", "risk of bias"), ("y", "outcome kind")]  # fmt: skip


@pytest.mark.parametrize("width", [40, 57, 80, 100])
def test_legend_rows_fit_and_never_break_inside_a_label(width: int) -> None:
    rows = pack_legend(LEGEND, width)
    assert all(len(row) <= width for row in rows)
    joined = "  ".join(rows)
    for key, label in LEGEND:
        item = f"[{key}] {label}" if key else label
        assert item in joined
        assert any(item in row for row in rows), f"{item!r} split across rows at width {width}"


def test_layout_fills_exactly_the_screen_keeping_header_and_legend() -> None:
    long_body = [("word " * 1500, ""), ("", ""), ("more " * 200, "")]
    screen = Screen(title="litgrade grade · c · alice", status="study 1/9 · PMID 1 · 9 left",
                    claim="A claim " * 30, body=long_body, message="Saved: x", keys=LEGEND)  # fmt: skip
    for width, height in [(80, 24), (40, 16), (120, 50)]:
        result = layout(screen, width, height)
        plain = [row.plain for row in result.rows]
        assert len(plain) == height and all(len(row) <= width for row in plain)
        assert plain[0] == "litgrade grade · c · alice" and plain[1].startswith("study 1/9")
        assert plain[-len(pack_legend(LEGEND, width)):] == pack_legend(LEGEND, width)
        assert any(row.startswith("… ") and "press v to page" in row for row in plain)
        assert result.body_shown < result.body_rows
