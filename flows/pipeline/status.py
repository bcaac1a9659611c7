"""What `litgrade status` shows: per claim, records found, the last run and what NCBI said, grading."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from flows.curation.events import GradeEvent
from flows.curation.journal import read_events
from flows.curation.review import Counts, grading_status
from flows.project.claims import Project
from flows.sources.protocol import search_notes
from flows.sources.runs import SearchRun
from flows.store import flags as flag_store
from flows.store import searches
from flows.store.db import connect


def open_flags(
    flags: list[flag_store.ReviewFlag], events: list[GradeEvent]
) -> list[flag_store.ReviewFlag]:
    """A re-review flag stays open until someone grades that (claim, study) again after it was raised."""
    latest: dict[tuple[str, str], str] = {}
    for event in events:
        key = (event.claim, event.pmid)
        latest[key] = max(latest.get(key, ""), event.timestamp)
    return [
        f
        for f in flags
        if latest.get((f.claim_id, f.pmid), "") <= f.detected_at.strftime("%Y-%m-%dT%H:%M:%S")
    ]


def progress_line(
    counts: Iterable[Counts], events: Iterable[GradeEvent], hits: dict[str, list[str]]
) -> str:
    """The project's grading progress: (claim, study) pairs by review state, and each curator's share."""
    rows = list(counts)
    total = sum(c.total for c in rows)
    found = {(claim, pmid) for claim, pmids in hits.items() for pmid in pmids}
    graded_by: dict[str, set[tuple[str, str]]] = {}
    for event in events:
        pair = (event.claim, event.pmid)
        if event.kind == "grade" and pair in found:
            graded_by.setdefault(event.curator, set()).add(pair)
        elif event.kind == "retract":  # undone: no longer that curator's grade
            graded_by.get(event.curator, set()).discard(pair)
    mine = ", ".join(f"{who} {len(pairs)}" for who, pairs in sorted(graded_by.items())) or "nobody yet"
    return (
        f"grading progress: {sum(c.final for c in rows)} of {total} (claim, study) pairs final, "
        f"{sum(c.conflict for c in rows)} in conflict, {sum(c.partial for c in rows)} awaiting a second "
        f"review, {sum(c.ungraded for c in rows)} ungraded; graded by {mine}"
    )


def project_status(project: Project, db_path: Path) -> Iterator[str]:
    # No store yet (nothing searched): the claims are still listed, each "never searched", with
    # their grading from the curators' files.
    hits: dict[str, list[str]] = {c.id: [] for c in project.claims}
    runs: dict[str, list[SearchRun]] = {c.id: [] for c in project.claims}
    stored = dict.fromkeys(hits, 0)
    review_flags: list[flag_store.ReviewFlag] = []
    if db_path.exists():
        with connect(db_path) as con:
            hits = {c.id: searches.claim_pmids(con, project.name, c.id) for c in project.claims}
            runs = {c.id: searches.search_runs(con, project.name, c.id) for c in project.claims}
            stored = {
                c.id: len(hits[c.id]) - len(searches.outstanding_pmids(con, project.name, c.id))
                for c in project.claims
            }
            review_flags = flag_store.flags(con, project.name)
        store = f"store {db_path}"
    else:
        store = (
            f"no store at {db_path}: make one with `litgrade demo` (the K2 showcase, offline) or "
            f"`litgrade refresh {project.name}` (live NCBI)"
        )
    events = read_events(project.dir)
    grading = dict(grading_status(project, events, hits))
    review_flags = open_flags(review_flags, events)
    yield f"{project.name}: {len(project.claims)} claims · {store}"
    yield progress_line(grading.values(), events, hits)
    for claim in project.claims:
        claim_runs = runs[claim.id]
        last = claim_runs[-1] if claim_runs else None
        line = f"- {claim.id}: {len(hits[claim.id])} records ({stored[claim.id]} stored)"
        if last is None:
            line += ", never searched"
        else:
            when = (last.finished_at or last.started_at).isoformat(sep=" ", timespec="minutes")
            line += f", last run {when} [{last.source}] {last.status}"
        if claim.id in grading:
            line += f"; grading: {grading[claim.id]}"
        yield line
        if last is not None:
            if last.error:
                yield f"    error: {last.error}"
            for note in search_notes(last.errors, last.warnings):
                yield f"    NCBI {note}"
            if last.missing_pmids:
                yield f"    not returned: {', '.join(last.missing_pmids[:10])}"
            if last.approximation:
                yield f"    approximation: {last.approximation}"
        for flag in review_flags:
            if flag.claim_id == claim.id:
                yield f"    re-review PMID {flag.pmid}: {flag.reason} (since {flag.detected_at:%Y-%m-%d})"
