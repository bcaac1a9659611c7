"""Grading rules and grade files: blind dual review to a final grade, kappa, torn lines, curators."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from flows.curation import review as grading
from flows.curation.grade_check import event_problems, grade_schema, problems
from flows.curation.journal import (
    append_event,
    append_events,
    grades_path,
    read_events,
    repair_torn_line,
)
from flows.curation.ladder import load_ladder
from flows.errors import InputError
from flows.project.claims import load_project
from flows.project.curators import load_curators
from tests.grading_fixtures import ev, write_project

P1, P2, P3 = "15514282", "9052783", "28620475"


@pytest.fixture()
def project_dir(tmp_path: Path) -> Path:
    return write_project(tmp_path)


def test_schema_vocabularies_are_the_ladders() -> None:
    ladder = load_ladder()
    props = grade_schema()["properties"]
    assert props["level"]["enum"] == list(ladder.level_ids)
    assert props["direction"]["enum"] == [c.id for c in ladder.directions]
    assert props["exclude_reason"]["enum"] == [c.id for c in ladder.exclude_reasons]
    assert props["risk_of_bias"]["enum"] == [c.id for c in ladder.risk_of_bias]
    assert props["bias_domain"]["enum"] == [c.id for c in ladder.bias_domains]
    assert props["indirectness"]["enum"] == [c.id for c in ladder.indirectness]
    assert props["outcome_kind"]["enum"] == [c.id for c in ladder.outcome_kinds]


def test_appraisal_fields_round_trip_and_indirect_needs_a_reason() -> None:
    appraised = {
        "claim": "c1", "pmid": "1", "curator": "alice", "timestamp": "2026-01-01T00:00:00Z", "kind": "grade",
        "relevance": "include", "level": "rct", "direction": "no_effect", "population": 42,
        "risk_of_bias": "some_concerns", "bias_domain": "missing_data", "exposure": "MK-7 180 ug/day",
        "indirectness": "indirect", "indirect_reason": "K1, not K2", "outcome": "bone_density",
        "outcome_kind": "surrogate",
    }
    assert event_problems(appraised) == []
    without_reason = {k: v for k, v in appraised.items() if k != "indirect_reason"}
    assert any(p.field == "indirect_reason" for p in problems(without_reason))
    domain_alone = {k: v for k, v in appraised.items() if k != "risk_of_bias"}
    assert any(p.field == "risk_of_bias" for p in problems(domain_alone))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"level": "rtc"}, "field 'level': 'rtc' is not one of"),
        ({"level": None}, "field 'level': is required here"),
        ({"relevance": "exclude"}, "field 'exclude_reason': is required here"),
        ({"pmid": "12ab"}, "field 'pmid'"),
        ({"population": 0}, "field 'population'"),
        ({"colour": "red"}, "field 'colour': unknown field"),
    ],
)
def test_event_problems_name_the_field(change: dict[str, object], expected: str) -> None:
    data: dict[str, object] = {"claim": "k2-bone", "pmid": P1, "curator": "alice", "timestamp": "2026-11-24T09:00:00Z",
            "kind": "grade", "relevance": "include", "level": "rct", "direction": "supports"}
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    problems = event_problems(data)
    assert any(expected in p for p in problems), problems


def test_append_then_read_round_trips_one_line_per_event(project_dir: Path) -> None:
    first = ev("alice", P1, population=120, risk_of_bias="low", quote="fewer deaths", note="cohort")
    second = ev("alice", P2, "exclude", minute=1)
    append_event(project_dir, first)
    append_event(project_dir, second)
    lines = grades_path(project_dir, "alice").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1]) == {
        "claim": "k2-calcification", "pmid": P2, "curator": "alice", "timestamp": second.timestamp,
        "kind": "grade", "relevance": "exclude", "exclude_reason": "off_topic",
    }
    assert read_events(project_dir) == [first, second]


def test_undeclared_curator_is_refused_and_nothing_is_written(project_dir: Path) -> None:
    with pytest.raises(InputError, match=r"curator 'dave' is not declared in .*curators.yaml \(declared: alice, bob, carol\)"):
        append_event(project_dir, ev("dave", P1))
    assert not (project_dir / "grades").exists()


def test_unsafe_curator_id_and_unknown_claim_are_refused(project_dir: Path) -> None:
    with pytest.raises(InputError, match="not a safe slug"):
        append_event(project_dir, ev("../alice", P1))
    with pytest.raises(InputError, match="no claim 'k2-hair'"):
        append_event(project_dir, ev("alice", P1, claim="k2-hair"))


def test_only_adjudicators_may_adjudicate(project_dir: Path) -> None:
    with pytest.raises(InputError, match="'bob' is a curator, not an adjudicator"):
        append_event(project_dir, ev("bob", P1, kind="adjudication"))
    append_event(project_dir, ev("carol", P1, kind="adjudication"))


def test_a_batch_with_one_bad_event_writes_nothing(project_dir: Path) -> None:
    with pytest.raises(InputError, match="field 'level'"):
        append_events(project_dir, [ev("alice", P1), ev("alice", P2, level="rtc")])
    assert read_events(project_dir) == []


def test_torn_last_line_is_reported_refused_and_repaired(project_dir: Path) -> None:
    append_event(project_dir, ev("alice", P1))
    append_event(project_dir, ev("alice", P2, minute=1))
    path = grades_path(project_dir, "alice")
    torn = b'{"claim":"k2-calcification","pmid":"28620475","cur'
    with path.open("ab") as handle:  # a crash halfway through a write
        handle.write(torn)
    with pytest.raises(InputError, match=rf"{path}:3: torn last line"):
        read_events(project_dir, strict=True)
    with pytest.raises(InputError, match=r"nothing was saved: .*torn last line"):
        append_event(project_dir, ev("alice", P3, minute=2))
    assert path.read_bytes().endswith(torn)  # the refused append added nothing after it
    side = repair_torn_line(project_dir, "alice")
    assert side is not None and side.read_bytes() == torn
    assert [e.pmid for e in read_events(project_dir)] == [P1, P2]
    append_event(project_dir, ev("alice", P3, minute=2))
    assert [e.pmid for e in read_events(project_dir)] == [P1, P2, P3]
    assert repair_torn_line(project_dir, "alice") is None


def test_an_invalid_line_names_file_line_and_field(project_dir: Path) -> None:
    append_event(project_dir, ev("bob", P1))
    path = grades_path(project_dir, "bob")
    good = path.read_text(encoding="utf-8")
    path.write_text(good + good.replace('"rct"', '"rtc"') + good, encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:2: field 'level': 'rtc' is not one of"):
        read_events(project_dir, strict=True)
    path.write_text(good + "{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:2: not valid JSON"):
        read_events(project_dir, strict=True)
    path.write_text(good.replace('"curator":"bob"', '"curator":"alice"'), encoding="utf-8")
    with pytest.raises(InputError, match=rf"{path}:1: field 'curator': 'alice' in bob's file"):
        read_events(project_dir, strict=True)


def test_grades_file_of_undeclared_curator_is_reported(project_dir: Path) -> None:
    append_event(project_dir, ev("alice", P1))
    (project_dir / "grades" / "mallory.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"mallory\.jsonl: grades of 'mallory', who is not declared"):
        read_events(project_dir, strict=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("curators:\n  - {id: alice, name: A, role: curator}\n  - {id: bob, name: B, role: boss}\n",
         "curators.yaml:3: field 'curators[1].role': 'boss' is not one of"),
        ("curators:\n  - {id: alice, name: A, role: curator}\n  - {id: alice, name: B, role: curator}\n",
         "curators.yaml:3: field 'curators[1].id': 'alice' is declared twice"),
        ("curators:\n  - {id: Alice!, name: A, role: curator}\n", "curators.yaml:2: field 'curators[0].id'"),
        ("curators: [\n", "YAML syntax error"),
    ],
)
def test_bad_curators_file_names_line_and_field(project_dir: Path, text: str, expected: str) -> None:
    (project_dir / "curators.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=expected.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_curators(project_dir)


def test_blind_dual_review_conflict_adjudication_final(project_dir: Path) -> None:
    project = load_project(project_dir)
    claim = "k2-calcification"
    hits = [P1, P2, P3]
    assert project.reviewers_for(claim) == 2

    append_event(project_dir, ev("alice", P1, level="rct", direction="supports"))
    append_event(project_dir, ev("alice", P2, level="human_observational", direction="supports", minute=1))
    events = read_events(project_dir)
    assert grading.study_state(project, events, claim, P1) == "partial"
    # Bob has not graded P1: Alice's grade is hidden from him, not from her or the adjudicator.
    assert grading.visible_grades(events, "bob", claim, P1) == []
    assert [e.curator for e in grading.visible_grades(events, "alice", claim, P1)] == ["alice"]
    assert [e.curator for e in grading.visible_grades(events, "carol", claim, P1, adjudicator=True)] == ["alice"]
    assert grading.queue(project, events, claim, "bob", hits) == [P1, P2, P3]
    assert grading.queue(project, events, claim, "alice", hits) == [P3]

    append_event(project_dir, ev("bob", P1, level="rct", direction="contradicts", minute=2))
    append_event(project_dir, ev("bob", P2, level="human_observational", direction="supports", minute=3))
    events = read_events(project_dir)
    assert [e.curator for e in grading.visible_grades(events, "bob", claim, P1)] == ["alice", "bob"]
    assert grading.study_state(project, events, claim, P1) == "conflict"
    assert grading.study_state(project, events, claim, P2) == "final"
    assert grading.conflicts(project, events, claim, hits) == [P1]
    assert grading.queue(project, events, claim, "bob", hits) == [P3]
    assert grading.grading_status(project, events, {claim: hits})[claim] == grading.Counts(
        graded=2, ungraded=1, conflict=1, final=1
    )
    finals = grading.final_grades(project, events)
    assert [(f.pmid, f.decided_by, f.curators) for f in finals] == [(P2, "agreement", ("alice", "bob"))]

    append_event(project_dir, ev("carol", P1, level="rct", direction="mixed", kind="adjudication",
                                 minute=4, note="effect on one outcome only"))
    events = read_events(project_dir)
    assert grading.conflicts(project, events, claim, hits) == []
    final = {f.pmid: f for f in grading.final_grades(project, events)}
    assert final[P1].decided_by == "adjudication"
    assert (final[P1].level, final[P1].direction) == ("rct", "mixed")
    assert final[P1].curators == ("alice", "bob", "carol")
    assert final[P1].note == "effect on one outcome only"
    assert str(grading.grading_status(project, events, {claim: hits})[claim]) == (
        "2 final, 0 in conflict, 0 awaiting a second review, 1 ungraded (of 3)"
    )


def test_retract_withdraws_the_curators_grade(project_dir: Path) -> None:
    project = load_project(project_dir)
    claim = "k2-bone"  # one reviewer: a single grade is final
    append_event(project_dir, ev("alice", P1, claim=claim))
    events = read_events(project_dir)
    assert [f.decided_by for f in grading.final_grades(project, events)] == ["single"]
    assert grading.queue(project, events, claim, "bob", [P1, P2]) == [P2]
    append_event(project_dir, ev("alice", P1, claim=claim, kind="retract", minute=1))
    events = read_events(project_dir)
    assert grading.final_grades(project, events) == []
    assert grading.study_state(project, events, claim, P1) == "ungraded"
    assert grading.queue(project, events, claim, "alice", [P1, P2]) == [P1, P2]


def test_latest_event_per_curator_wins_and_exclusions_agree(project_dir: Path) -> None:
    project = load_project(project_dir)
    append_event(project_dir, ev("alice", P1, level="animal"))
    append_event(project_dir, ev("alice", P1, level="rct", minute=1))  # changed her mind
    append_event(project_dir, ev("bob", P1, level="rct", minute=2))
    append_event(project_dir, ev("alice", P2, "exclude", exclude_reason="wrong_population", minute=3))
    append_event(project_dir, ev("bob", P2, "exclude", exclude_reason="off_topic", minute=4))
    events = read_events(project_dir)
    final = {f.pmid: f for f in grading.final_grades(project, events)}
    assert final[P1].level == "rct"
    assert (final[P2].relevance, final[P2].exclude_reason) == ("exclude", "wrong_population")


def test_kappa_matches_a_hand_computed_example() -> None:
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15.
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert grading.cohen_kappa(a, b) == pytest.approx(0.4)
    assert grading.cohen_kappa(["x", "x"], ["x", "x"]) is None  # undefined, not a fake 1.0
    assert grading.cohen_kappa([], []) is None


def test_kappa_agrees_with_scikit_learn() -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(7)
    labels = list(load_ladder().level_ids)
    for _ in range(20):
        a = [rng.choice(labels[:4]) for _ in range(30)]
        b = [x if rng.random() < 0.6 else rng.choice(labels[:4]) for x in a]
        assert grading.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_agreement_per_pair_per_claim_and_overall(project_dir: Path) -> None:
    project = load_project(project_dir)
    pmids = ["101", "102", "103", "104"]
    # relevance: alice I I E E, bob I E E E → p_o 3/4; p_e = .5*.25 + .5*.75 = .5; kappa = .5
    for i, (a, b) in enumerate(zip("IIEE", "IEEE", strict=True)):
        rel_a = "include" if a == "I" else "exclude"
        rel_b = "include" if b == "I" else "exclude"
        append_event(project_dir, ev("alice", pmids[i], rel_a, minute=i))
        append_event(project_dir, ev("bob", pmids[i], rel_b, minute=i))
    rows = grading.agreement(project, read_events(project_dir))
    by = {(r.claim, r.field): r for r in rows}
    relevance = by[("k2-calcification", "relevance")]
    assert relevance.curators == ("alice", "bob")
    assert (relevance.items, relevance.percent, relevance.kappa) == (4, 75.0, pytest.approx(0.5))
    level = by[("k2-calcification", "level")]
    assert (level.items, level.percent, level.kappa) == (1, 100.0, None)
    assert by[(None, "relevance")].kappa == pytest.approx(0.5)
    assert ("k2-bone", "relevance") not in by


def test_curators_file_round_trip(project_dir: Path) -> None:
    curators = load_curators(project_dir)
    assert list(curators) == ["alice", "bob", "carol"]
    assert curators["carol"].is_adjudicator and not curators["alice"].is_adjudicator
    assert yaml.safe_load((project_dir / "curators.yaml").read_text())["curators"][1]["name"] == "Bob Berg"


_LEAD = {
    "claim": st.sampled_from(["k2-bone", "k2-bone", "k2-bone", "K2", "a" * 81]),
    "pmid": st.sampled_from(["15514282", "15514282", "15514282", "0123", "12a"]),
    "curator": st.sampled_from(["alice", "alice", "bob_2", "../x"]),
    "timestamp": st.sampled_from(["2026-11-24T09:00:00Z", "2026-11-24T09:00:00.123+01:00", "2026-11-24T09:00:00Z", "yesterday"]),
    "kind": st.sampled_from(["grade", "grade", "adjudication", "retract", "undo"]),
}
_OPTIONAL = {
    "relevance": st.sampled_from(["include", "include", "exclude", "exclude", "maybe"]),
    "exclude_reason": st.sampled_from(["off_topic", "other", "bored"]),
    "level": st.sampled_from(["rct", "in_vitro", "rtc"]),
    "direction": st.sampled_from(["supports", "mixed", "up"]),
    "population": st.one_of(st.integers(-2, 3), st.just(True), st.just("12")),
    "risk_of_bias": st.sampled_from(["low", "low", "medium"]),
    "quote": st.sampled_from(["q", "q", ""]),
    "note": st.sampled_from(["why", "why", ""]),
    "colour": st.just("red"),
}


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries(_LEAD, optional=_OPTIONAL), st.sets(st.sampled_from(sorted(_LEAD)), max_size=1))
def test_fast_validation_agrees_with_the_json_schema(data: dict[str, object], drop: set[str]) -> None:
    from flows.curation.grade_check import is_valid, validator

    data = {k: v for k, v in data.items() if k not in drop}
    valid = validator().is_valid(data)
    event(f"valid={valid}")
    assert is_valid(data) == valid
    assert (event_problems(data) == []) == valid


def _append_many(folder: str, curator: str, start: int, count: int) -> None:
    for i in range(start, start + count):
        append_event(Path(folder), ev(curator, str(100000 + i), note="x" * (i % 50 + 1)))


def test_two_processes_appending_to_one_file_never_interleave(project_dir: Path) -> None:
    # The same curator in the web app and a terminal at once: every line must stay whole.
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(project_dir), "alice", n * 40, 40)) for n in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    events = read_events(project_dir)
    assert sorted(int(e.pmid) for e in events) == list(range(100000, 100120))
