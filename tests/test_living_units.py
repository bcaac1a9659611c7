"""Living evidence, the fast parts: comparing two versions of a graded record, the digest text, the
digest file name, the project lock across processes and the re-review flags in a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from flows.evidence.recheck import compare_versions
from flows.pipeline.living import _digest_path, artifact_key
from flows.pipeline.lock import ProjectBusyError, ensure_free, project_lock
from flows.pubmed.records import Article, CommentCorrection, PublicationType
from flows.reports.digest import NOTHING_NEW, Digest, NewStudy, Rereview, rating_changes, render_digest
from flows.sources.protocol import search_notes
from flows.store import flags as flag_store
from flows.store.db import connect

REPO = Path(__file__).resolve().parent.parent


def article(*types: str, links: tuple[tuple[str, str], ...] = ()) -> Article:
    return Article(
        pmid="123",
        title="A trial",
        publication_types=tuple(PublicationType(t) for t in ("Journal Article", *types)),
        comments_corrections=tuple(CommentCorrection(kind, pmid) for kind, pmid in links),
    )


def test_compare_versions_names_each_change_that_can_alter_a_grade() -> None:
    old = article("Randomized Controlled Trial")
    assert compare_versions(old, old) is None
    retracted = compare_versions(
        old, article("Randomized Controlled Trial", "Retracted Publication", links=(("RetractionIn", "9"),))
    )
    assert retracted is not None and retracted.kinds == ("retracted",) and retracted.needs_rereview
    assert retracted.detail == "retracted per PubMed (retraction notice PMID 9); PubMed publication types +Retracted Publication"
    concern = compare_versions(old, article("Randomized Controlled Trial", links=(("ExpressionOfConcernIn", "7"),)))
    assert concern is not None and concern.kinds == ("expression_of_concern",)
    erratum = compare_versions(old, article("Randomized Controlled Trial", links=(("ErratumIn", "8"),)))
    assert erratum is not None and erratum.detail == "erratum published per PubMed (PMID 8)"
    retyped = compare_versions(old, article("Observational Study"))
    assert retyped is not None and retyped.kinds == ("publication_types",)
    assert retyped.detail == "PubMed publication types +Observational Study, -Randomized Controlled Trial"
    # A retraction already known is not news again.
    gone = article("Retracted Publication", links=(("RetractionIn", "9"),))
    assert compare_versions(gone, gone) is None


def digest(**kw: object) -> Digest:
    return Digest(project="p", run_time="2026-12-01T06:00:00", source="eutils", **kw)  # type: ignore[arg-type]


def test_nothing_new_is_one_line_and_standing_warnings_do_not_count() -> None:
    lines = render_digest(digest(new_studies={"a": []})).splitlines()
    assert lines == ["# p — evidence digest 2026-12-01", "", "Run 2026-12-01T06:00:00 · source: eutils", "",
                     NOTHING_NEW]
    warned = render_digest(digest(warnings={"a": ["PhraseNotFound: fleegle[mh]"]})).splitlines()
    assert warned[4] == NOTHING_NEW
    assert "- **a**: PhraseNotFound: fleegle\\[mh\\]" in warned


def test_digest_escapes_markdown_from_pubmed() -> None:
    text = render_digest(
        digest(
            new_studies={"a": [NewStudy("1", "[click](javascript:x) <script>|table|\n# heading")]},
            rereviews=[Rereview("a", "2", "*bold*", "retracted", included=False)],
        )
    )
    assert "PMID 1: \\[click\\](javascript:x) \\<script\\>\\|table\\|  \\# heading" not in text
    assert "PMID 1: \\[click\\](javascript:x) \\<script\\>\\|table\\| \\# heading" in text
    assert "- **a**: PMID 2 \\*bold\\* — retracted" in text and "was included" not in text
    assert "<script>" not in text


def test_failures_come_first_and_rating_changes_only_list_changes() -> None:
    changes = rating_changes({"a": "moderate", "b": "low"}, {"a": "insufficient", "b": "low", "c": "low"},
                             ["a", "b", "c"])
    assert changes == {"a": ("moderate", "insufficient"), "c": (None, "low")}
    lines = render_digest(digest(failures={"b": "HTTP 500"}, rating_changes=changes)).splitlines()
    assert lines[4:7] == ["## Failed claims (retried on the next run)", "", "- **b**: HTTP 500"]
    assert "- **c**: none → low" in lines


def test_search_notes_drop_ncbis_routine_no_items_found() -> None:
    assert search_notes({}, {"OutputMessage": ["No items found."]}) == []
    assert search_notes({"PhraseNotFound": ["x", "y"]}, {}) == ["PhraseNotFound: x, y"]


def test_digest_path_numbers_a_second_different_run_on_the_same_day(tmp_path: Path) -> None:
    first = _digest_path(tmp_path, "2026-12-01", "one")
    assert first.name == "2026-12-01.md"
    first.write_text("one", encoding="utf-8")
    assert _digest_path(tmp_path, "2026-12-01", "one") == first  # same text: same file
    assert _digest_path(tmp_path, "2026-12-01", "two").name == "2026-12-01-2.md"


def test_artifact_key_is_valid_for_any_project_name() -> None:
    assert artifact_key("digest", "K2_Muscle study") == "digest-k2-muscle-study"


HOLD = """
import time
from flows.pipeline.lock import project_lock
with project_lock("held-project"):
    print("held", flush=True)
    time.sleep(30)
"""


def test_project_lock_refuses_while_another_process_holds_it_and_frees_when_it_dies() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ProjectBusyError, match=rf"'held-project' is running \(pid {holder.pid} since"):
            ensure_free("held-project")
        with pytest.raises(ProjectBusyError), project_lock("held-project", wait_seconds=0.3):
            pass
    finally:
        holder.kill()  # the kernel drops a dead holder's lock: no stale lock file to clean up
        holder.wait()
    with project_lock("held-project"):
        pass


def test_review_flags_round_trip_and_a_repeat_is_not_stored_twice(tmp_db: Path) -> None:
    when = dt.datetime(2026, 12, 1, 6)
    flag = flag_store.ReviewFlag("p", "a", "123", ("retracted",), "retracted", True, when)
    with connect(tmp_db) as con:
        flag_store.add_flags(con, [flag, flag])
        assert flag_store.flags(con, "p") == [flag]
        assert flag_store.flags(con, "other") == []
