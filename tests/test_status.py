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
