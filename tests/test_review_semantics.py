"""Blind review kept honest by construction: independent grades from the event timestamps, revisions
after unblinding, adjudication beside (never over) the grades, agreement over independent grades."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flows.curation import review
from flows.curation.events import GradeEvent
from flows.project.claims import Project, load_project
from tests.grading_fixtures import ev, write_project

P1, P2, P3 = "15514282", "9052783", "28620475"
CLAIM = "k2-calcification"  # two reviewers
ROLES = frozenset({"carol"})  # curators.yaml's adjudicator


@pytest.fixture()
def project(tmp_path: Path) -> Project:
    return load_project(write_project(tmp_path))


def state(project: Project, events: list[GradeEvent], pmid: str = P1) -> str:
    return review.study_state(project, events, CLAIM, pmid, ROLES)


def test_changes_before_unblinding_are_blind_second_thoughts(project: Project) -> None:
    events = [
        ev("alice", P1, level="animal", minute=0),
        ev("alice", P1, level="rct", minute=1),  # alice changes her mind, still blind
        ev("bob", P1, level="rct", minute=2),
    ]
    study = review.study_decisions(events, CLAIM, P1, ROLES)
    assert [g.level for g in study.independent] == ["rct", "rct"]
    assert study.unblinded == {"alice", "bob"}
    assert state(project, events) == "final"
    # A retract before anyone else graded is a blind second thought too: nothing independent is left.
    undone = [ev("alice", P2, minute=0), ev("alice", P2, kind="retract", minute=1)]
    assert review.study_decisions(undone, CLAIM, P2, ROLES).independent == ()
    assert review.study_state(project, undone, CLAIM, P2, ROLES) == "ungraded"


def test_revision_or_undo_after_unblinding_never_erases_the_conflict(project: Project) -> None:
    graded = [ev("alice", P1, level="rct", minute=0), ev("bob", P1, level="animal", minute=1)]
    assert state(project, graded) == "conflict"
    matched = [*graded, ev("bob", P1, level="rct", minute=2)]  # bob saw alice's grade and matched it
    assert state(project, matched) == "conflict"
    assert review.final_grades(project, matched, ROLES) == []  # counts nowhere until settled
    undone = [*graded, ev("bob", P1, kind="retract", minute=2)]  # or pressed Undo
    assert state(project, undone) == "conflict"
    assert review.conflicts(project, undone, CLAIM, adjudicators=ROLES) == [P1]
    assert review.queue(project, undone, CLAIM, "bob", [P1], ROLES) == []
    # Agreement keeps bob's independent (animal) grade either way.
    for events in (matched, undone):
        [level] = [r for r in review.agreement(project, events, ROLES) if r.claim is None and r.field == "level"]
        assert (level.items, level.percent) == (1, 0.0)
    # Once unblinded a curator stays unblinded: the other grade is still shown after the undo.
    assert [e.curator for e in review.visible_grades(undone, "bob", CLAIM, P1)] == ["alice"]


def test_a_revision_after_unblinding_reopens_an_agreed_study(project: Project) -> None:
    events = [ev("alice", P1, minute=0), ev("bob", P1, minute=1), ev("bob", P1, direction="mixed", minute=2)]
    assert state(project, events) == "conflict"
    [row] = [r for r in review.agreement(project, events, ROLES) if r.claim is None and r.field == "direction"]
    assert (row.items, row.percent) == (1, 100.0)  # the independent grades agreed


def test_adjudication_never_overwrites_the_adjudicators_own_grade(project: Project) -> None:
    # The case: alice and the adjudicator disagree on 1 of 3; the adjudicator settles it.
    events = [
        ev("carol", P1, minute=0), ev("carol", P2, minute=0), ev("carol", P3, level="animal", minute=0),
        ev("alice", P1, minute=1), ev("alice", P2, minute=1), ev("alice", P3, level="rct", minute=1),
        ev("carol", P3, level="rct", kind="adjudication", minute=2),
    ]  # fmt: skip
    [level] = [r for r in review.agreement(project, events, ROLES) if r.claim is None and r.field == "level"]
    assert (level.curators, level.items, round(level.percent or 0, 1)) == (("alice", "carol"), 3, 66.7)
    study = review.study_decisions(events, CLAIM, P3, ROLES)
    assert [g.level for g in study.grades] == ["rct", "animal"]  # both grades still stand
    final = {f.pmid: f for f in review.final_grades(project, events, ROLES)}
    assert (final[P3].decided_by, final[P3].level, final[P3].self_adjudicated) == ("adjudication", "rct", True)
    assert final[P3].curators == ("alice", "carol")
    assert final[P1].self_adjudicated is False


def test_a_party_to_the_conflict_may_not_settle_it_when_another_adjudicator_exists() -> None:
    events = [ev("carol", P1, level="animal", minute=0), ev("alice", P1, minute=1)]
    refused = review.adjudication_refusal(events, CLAIM, P1, "carol", {"carol", "dave"})
    assert refused == (
        f"you graded PMID {P1} yourself, so you are party to this conflict; another adjudicator (dave) settles it"
    )
    assert review.adjudication_refusal(events, CLAIM, P1, "dave", {"carol", "dave"}) is None
    assert review.adjudication_refusal(events, CLAIM, P1, "carol", {"carol"}) is None  # allowed, flagged


def test_an_adjudicators_grade_counts_only_when_made_blind(project: Project) -> None:
    # carol (adjudicator, who may see every grade) grades after alice: not an independent review.
    events = [ev("alice", P1, minute=0), ev("carol", P1, level="animal", minute=1)]
    study = review.study_decisions(events, CLAIM, P1, ROLES)
    assert [g.curator for g in study.independent] == ["alice"]
    assert state(project, events) == "partial"  # still awaiting a second, independent reviewer
    assert review.queue(project, events, CLAIM, "bob", [P1], ROLES) == [P1]
    # Graded first (nothing to look at), the adjudicator's grade is independent.
    first = [ev("carol", P2, minute=0), ev("alice", P2, minute=1)]
    assert [g.curator for g in review.study_decisions(first, CLAIM, P2, ROLES).independent] == ["alice", "carol"]


def test_one_independent_grade_counts_as_single_and_a_conflict_counts_nowhere(project: Project) -> None:
    events = [
        ev("alice", P1, minute=0),
        ev("alice", P2, level="rct", minute=0), ev("bob", P2, level="animal", minute=1),
    ]  # fmt: skip
    assert state(project, events, P1) == "partial"
    finals = review.final_grades(project, events, ROLES)
    assert [(f.pmid, f.decided_by, f.curators) for f in finals] == [(P1, "single", ("alice",))]


def test_timestamps_not_file_order_decide_who_was_blind(project: Project) -> None:
    # bob's file is read first, but alice graded first: both grades are independent either way.
    events = [ev("bob", P1, level="animal", minute=5), ev("alice", P1, minute=1), ev("alice", P1, minute=9)]
    study = review.study_decisions(events, CLAIM, P1, ROLES)
    assert {g.curator: g.level for g in study.independent} == {"alice": "rct", "bob": "animal"}
    # An offset stamp is compared in UTC: 10:00+01:00 is before 09:30Z, so bob's revision at 09:45Z
    # comes after both were unblinded, and his independent grade stays "animal".
    mixed = [
        replace(ev("alice", P2), timestamp="2026-11-24T10:00:00+01:00"),
        replace(ev("bob", P2, level="animal"), timestamp="2026-11-24T09:30:00.5Z"),
        replace(ev("bob", P2), timestamp="2026-11-24T09:45:00Z"),
    ]
    assert {g.curator: g.level for g in review.study_decisions(mixed, CLAIM, P2, ROLES).independent} == {
        "alice": "rct", "bob": "animal",
    }  # fmt: skip
    assert review.study_state(project, mixed, CLAIM, P2, ROLES) == "conflict"


def test_weighted_kappa_for_level_matches_a_hand_computed_value(project: Project) -> None:
    # Scale positions: animal 1, nonrandomized_trial 3, rct 4. alice (4, 4, 1), bob (4, 3, 1).
    # Linear weights |i-j|: observed sum w·o = 1/3; expected sum w·e = 2/3·(1/3·1 + 1/3·3)
    # + 1/3·(1/3·3 + 1/3·2) = 13/9; kappa_w = 1 - (1/3)/(13/9) = 10/13.
    levels = {P1: ("rct", "rct"), P2: ("rct", "nonrandomized_trial"), P3: ("animal", "animal")}
    events = [
        e for i, (pmid, (a, b)) in enumerate(levels.items())
        for e in (ev("alice", pmid, level=a, minute=i), ev("bob", pmid, level=b, minute=i))
    ]  # fmt: skip
    rows = {r.field: r for r in review.agreement(project, events, ROLES) if r.claim is None}
    assert (rows["level"].items, rows["level"].weights) == (3, "linear")
    assert rows["level"].kappa == pytest.approx(10 / 13)
    assert rows["direction"].kappa is None  # all "supports": undefined, not a fake 1.0
    assert rows["risk_of_bias"].items == 0  # nobody rated it


def test_risk_of_bias_off_the_scale_is_left_out_of_its_kappa(project: Project) -> None:
    events = [
        ev("alice", P1, risk_of_bias="low", minute=0), ev("bob", P1, risk_of_bias="high", minute=0),
        ev("alice", P2, risk_of_bias="not_applicable", minute=0), ev("bob", P2, risk_of_bias="low", minute=0),
        ev("alice", P3, risk_of_bias="high", minute=0), ev("bob", P3, risk_of_bias="high", minute=0),
    ]  # fmt: skip
    [row] = [r for r in review.agreement(project, events, ROLES) if r.claim is None and r.field == "risk_of_bias"]
    assert (row.items, row.percent) == (2, 50.0)
    # positions (0, 2) and (2, 2): observed w·o = 1/2 · 2 = 1; expected w·e with marginals alice {0: ½, 2: ½},
    # bob {2: 1}: ½·2 = 1 → kappa_w = 1 - 1/1 = 0
    assert row.kappa == pytest.approx(0.0)


def test_replayed_events_give_the_same_answers(project: Project) -> None:
    events = [ev("alice", P1, minute=0), ev("bob", P1, level="animal", minute=1), ev("alice", P2, minute=2)]
    replayed = review.Replayed(events, ROLES)
    hits = {CLAIM: [P1, P2, P3]}
    assert review.final_grades(project, replayed, ROLES) == review.final_grades(project, events, ROLES)
    assert review.grading_status(project, replayed, hits, ROLES) == review.grading_status(project, events, hits, ROLES)
    assert review.queue(project, replayed, CLAIM, "bob", hits[CLAIM], ROLES) == [P2, P3]
    assert review.conflicts(project, replayed, CLAIM, adjudicators=ROLES) == [P1]
    assert review.visible_grades(replayed, "bob", CLAIM, P2) == []
