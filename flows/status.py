"""What `litgrade status` shows: per claim, records found, the last run and what NCBI said, grading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from flows.claims import Project
from flows.store import flags as flag_store
from flows.store import searches
from flows.store.db import connect


def _grading_counts(project: Project, hits: dict[str, list[str]]) -> dict[str, object]:
    try:
        from flows.grades_file import read_events
        from flows.grading import grading_status
    except ImportError:
        return {}
    return dict(grading_status(project, read_events(project.dir), hits))


def project_status(project: Project, db_path: Path) -> Iterator[str]:
    if not db_path.exists():
        yield f"{project.name}: no store yet at {db_path} — run `litgrade refresh {project.name}`"
        return
    with connect(db_path) as con:
        hits = {c.id: searches.claim_pmids(con, project.name, c.id) for c in project.claims}
        runs = {c.id: searches.search_runs(con, project.name, c.id) for c in project.claims}
        stored = {
            c.id: len(hits[c.id]) - len(searches.outstanding_pmids(con, project.name, c.id))
            for c in project.claims
        }
        review_flags = flag_store.flags(con, project.name)
    grading = _grading_counts(project, hits)
    yield f"{project.name}: {len(project.claims)} claims · store {db_path}"
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
            for kind, items in sorted({**last.errors, **last.warnings}.items()):
                if items:
                    yield f"    NCBI {kind}: {', '.join(items)}"
            if last.missing_pmids:
                yield f"    not returned: {', '.join(last.missing_pmids[:10])}"
            if last.approximation:
                yield f"    approximation: {last.approximation}"
        for flag in review_flags:
            if flag.claim_id == claim.id:
                yield f"    re-review PMID {flag.pmid}: {flag.reason} (since {flag.detected_at:%Y-%m-%d})"
