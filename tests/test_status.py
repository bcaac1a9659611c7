"""`litgrade status`: a re-review flag stays open until the study is graded again after it was raised."""

from __future__ import annotations

import datetime as dt

from flows.curation.events import GradeEvent
from flows.pipeline.status import open_flags
from flows.store.flags import ReviewFlag

RAISED = dt.datetime(2026, 12, 1, 6, 0)
FLAG = ReviewFlag("p", "claim-a", "123", ("retracted",), "retracted", True, RAISED)


def event(pmid: str, timestamp: str, claim: str = "claim-a") -> GradeEvent:
    return GradeEvent(claim=claim, pmid=pmid, curator="alice", timestamp=timestamp)


def test_flag_open_while_only_older_grades_exist() -> None:
    assert open_flags([FLAG], [event("123", "2026-11-24T12:00:00Z")]) == [FLAG]


def test_flag_closed_by_a_newer_grade_of_that_study_for_that_claim() -> None:
    newer = event("123", "2026-12-02T09:00:00Z")
    assert open_flags([FLAG], [event("123", "2026-11-24T12:00:00Z"), newer]) == []


def test_newer_grades_of_other_studies_or_claims_do_not_close_it() -> None:
    others = [event("999", "2026-12-02T09:00:00Z"), event("123", "2026-12-02T09:00:00Z", claim="claim-b")]
    assert open_flags([FLAG], others) == [FLAG]


def test_progress_line_counts_review_states_and_each_curators_standing_grades() -> None:
    from flows.curation.review import Counts
    from flows.pipeline.status import progress_line

    hits = {"claim-a": ["1", "2", "3"], "claim-b": ["9"]}
    events = [
        event("1", "2026-12-01T09:00:00Z"),
        GradeEvent(claim="claim-a", pmid="1", curator="bob", timestamp="2026-12-01T09:01:00Z"),
        event("2", "2026-12-01T09:02:00Z"),
        GradeEvent(claim="claim-a", pmid="2", curator="alice", timestamp="2026-12-01T09:03:00Z", kind="retract"),
        event("777", "2026-12-01T09:04:00Z"),  # not a search hit: not counted
    ]
    counts = [Counts(graded=1, ungraded=2, conflict=0, final=1), Counts(graded=0, ungraded=1, conflict=0, final=0)]
    assert progress_line(counts, events, hits) == (
        "grading progress: 1 of 4 (claim, study) pairs final, 0 in conflict, 0 awaiting a second review, "
        "3 ungraded; graded by alice 1, bob 1"
    )
    assert progress_line([], [], {}).endswith("graded by nobody yet")
