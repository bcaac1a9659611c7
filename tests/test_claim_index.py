"""flows.curation.claim_index against reading and replaying everything afresh: after every append, by
this process or another, every rewrite, replacement, damaged line and role change, the index (and
the web app's reads through it) must answer exactly what journal.read_events + review.Replayed do."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

from flows.curation.claim_index import EventIndex
from flows.curation.events import GradeEvent
from flows.curation.journal import append_event, event_line, grades_path, read_events, read_journal_files
from flows.curation.review import Replayed
from flows.web import data
from tests.grading_fixtures import CURATORS_YAML, ev, write_project
from tests.web_fixtures import CLAIM_BLIND, build_site

REPO = Path(__file__).resolve().parent.parent
CLAIMS = ("k2-calcification", "k2-bone")
PMIDS = ("15514282", "28620475", "11111111", "22222222")  # one length: in-place rewrites keep the size
BOB = "{id: bob, name: Bob Berg, role: curator}"


def _assert_matches(index: EventIndex, folder: Path) -> None:
    """The index, updated from a fresh read, equals reading and replaying from scratch."""
    index.update(read_journal_files(folder))
    everything = read_events(folder)
    assert index.events() == everything
    for claim in CLAIMS:
        mine = [e for e in everything if e.claim == claim]
        assert index.claim_events(claim) == mine
        for roles in (frozenset({"carol"}), frozenset({"carol", "bob"})):
            got, want = index.replayed(claim, roles), Replayed(mine, roles)
            assert list(got) == mine
            assert got.table == want.table
            assert got.standing == want.standing


def _random_event(rng: random.Random, curator: str, step: int) -> GradeEvent:
    kind = rng.choice(["grade"] * 5 + ["retract"] + (["adjudication"] if curator == "carol" else []))
    relevance = "include" if kind == "retract" else rng.choice(["include", "include", "exclude"])
    # Out-of-order minutes: studies are replayed in timestamp order, not file order.
    return ev(curator, rng.choice(PMIDS), relevance, claim=rng.choice(CLAIMS), kind=kind,
              minute=rng.randrange(60), direction=rng.choice(["supports", "contradicts"]),
              note=f"step {step}")  # fmt: skip


def _raw_append(path: Path, event: GradeEvent) -> None:
    """An append as another process (or git pull) makes it: bytes on disk, nothing told to this one."""
    with path.open("ab") as handle:
        handle.write(event_line(event).encode("utf-8"))


def test_index_equals_a_fresh_replay_through_appends_rewrites_and_damage(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    rng = random.Random(17)
    index = EventIndex()
    _assert_matches(index, folder)  # no grades folder yet
    for step in range(160):
        curator = rng.choice(["alice", "bob", "carol"])
        path = grades_path(folder, curator)
        roll = rng.random()
        if roll < 0.6 or not path.exists():
            append_event(folder, _random_event(rng, curator, step))
        elif roll < 0.75:
            _raw_append(path, _random_event(rng, curator, step))
        elif roll < 0.82:  # shrunk to its first lines (a git checkout of an older version)
            lines = path.read_bytes().splitlines(keepends=True)
            path.write_bytes(b"".join(lines[: rng.randrange(len(lines) + 1)]))
        elif roll < 0.87:  # rewritten in place, same size, the last line changed (its note)
            *head, last = path.read_bytes().splitlines(keepends=True)
            path.write_bytes(b"".join(head) + re.sub(rb'"note":"\w+ ', b'"note":"redo ', last))
        elif roll < 0.91:  # replaced by a new file (a new inode), one line dropped
            lines = path.read_bytes().splitlines(keepends=True)
            fresh = path.with_name("replacement.tmp")
            fresh.write_bytes(b"".join(lines[1:]))
            os.replace(fresh, path)
        elif roll < 0.95:  # a bad line: the file is left out, then repaired by cutting it off
            size = path.stat().st_size
            with path.open("ab") as handle:
                handle.write(b"<<<<<<< HEAD\n")
            _assert_matches(index, folder)
            os.truncate(path, size)
        else:  # bob becomes an adjudicator and back: every file is validated (and indexed) again
            yaml = folder / "curators.yaml"
            text = yaml.read_text()
            yaml.write_text(
                text.replace(BOB, BOB.replace("curator}", "adjudicator}")) if BOB in text else CURATORS_YAML
            )
        _assert_matches(index, folder)


APPEND = """
import sys
from pathlib import Path
from flows.curation.journal import append_event
from tests.grading_fixtures import ev
append_event(Path(sys.argv[1]), ev("bob", sys.argv[2], "exclude", claim=sys.argv[3], minute=5))
"""


def test_the_web_app_sees_another_processs_append_and_a_rewritten_file(tmp_path: Path) -> None:
    site = build_site(tmp_path)
    config, pmid = site.config, site.blind[0]
    roles = frozenset({"carol"})
    data.append(config, ev("alice", pmid, claim=CLAIM_BLIND))
    before = data.replayed(config, CLAIM_BLIND, roles)
    assert [g.curator for g in before.table[(CLAIM_BLIND, pmid)].grades] == ["alice"]

    subprocess.run(
        [sys.executable, "-c", APPEND, str(site.project_dir), pmid, CLAIM_BLIND],
        check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    study = data.replayed(config, CLAIM_BLIND, roles).table[(CLAIM_BLIND, pmid)]
    assert [g.curator for g in study.grades] == ["alice", "bob"]
    assert study.state(2) == "conflict"
    assert [e.curator for e in data.events(config, CLAIM_BLIND)] == ["alice", "bob"]
    assert [g.curator for g in before.table[(CLAIM_BLIND, pmid)].grades] == ["alice"]  # handed out: kept

    # alice's file replaced (as git checkout does), not appended: her old line must not linger
    alice = grades_path(site.project_dir, "alice")
    fresh = alice.with_name("checkout.tmp")
    fresh.write_bytes(event_line(ev("alice", site.blind[1], claim=CLAIM_BLIND)).encode("utf-8"))
    os.replace(fresh, alice)
    table = data.replayed(config, CLAIM_BLIND, roles).table
    assert [g.curator for g in table[(CLAIM_BLIND, pmid)].grades] == ["bob"]
    assert [g.curator for g in table[(CLAIM_BLIND, site.blind[1])].grades] == ["alice"]

    # a bad line leaves bob's file out whole, as before; cut back, his grade counts again
    bob = grades_path(site.project_dir, "bob")
    size = bob.stat().st_size
    with bob.open("ab") as handle:
        handle.write(b"\x00\n")
    assert (CLAIM_BLIND, pmid) not in data.replayed(config, CLAIM_BLIND, roles).table
    assert [e.curator for e in data.events(config)] == ["alice"]
    os.truncate(bob, size)
    again = data.replayed(config, CLAIM_BLIND, roles).table[(CLAIM_BLIND, pmid)]
    assert [g.curator for g in again.grades] == ["bob"]
