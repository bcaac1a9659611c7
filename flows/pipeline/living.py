"""Living evidence: the scheduled run. Refresh every claim, re-check graded studies, regenerate the
reports, and write a digest of what changed (new studies, re-reviews, rating changes, failures).

Runs under the project lock, so a scheduled run and a manual refresh never write at the same time.
The run ends Completed only if every claim succeeded; otherwise Failed with the list (after storing
and reporting everything that did succeed), and the next run retries what failed.
"""

# No `from __future__ import annotations`: Prefect validates the flow parameters against these
# annotations, and a served run gets this module by value (prefect.bundles), without the globals that
# would resolve them from strings.

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from duckdb import DuckDBPyConnection
from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows import config
from flows.atomic import write_atomic
from flows.curation.events import FinalGrade
from flows.evidence.recheck import StudyChange, compare_versions, merge_changes, notice_change
from flows.evidence.retraction_watch import matching, normalise_doi
from flows.pipeline.lock import project_lock
from flows.pipeline.refresh import ClaimsFailedError, Runner, refresh_with_runner, run_stamp, store_records
from flows.pipeline.sources import open_source, resolve
from flows.pipeline.tasks import results_in_memory, store_task
from flows.project.claims import Project, load_project
from flows.pubmed.records import Article
from flows.reports.digest import Digest, NewStudy, Rereview, rating_changes, render_digest
from flows.reports.write import write_project_reports
from flows.sources.protocol import search_notes
from flows.sources.spec import SourceKind, SourceSpec
from flows.store import articles as article_store
from flows.store import flags as flag_store
from flows.store import retractions as notice_store
from flows.store.db import connect

RECHECK = "re-check of graded studies"  # its failures are listed beside the claims'


@dataclass
class LivingSummary:
    project: str
    digest_path: Path
    digest: Digest


def graded_studies(project: Project) -> tuple[dict[str, set[str]], dict[tuple[str, str], FinalGrade]]:
    """PMID → claims that graded it, and the final grades (to know what was included)."""
    from flows.curation.journal import read_events
    from flows.curation.review import final_grades

    events = read_events(project.dir)
    claims_of: dict[str, set[str]] = {}
    for event in events:
        claims_of.setdefault(event.pmid, set()).add(event.claim)
    finals = {(g.claim, g.pmid): g for g in final_grades(project, events)}
    return claims_of, finals


def previous_ratings(scorecard: Path) -> dict[str, str]:
    try:
        data = json.loads(scorecard.read_text(encoding="utf-8"))
        return {str(row["id"]): str(row["rating"]) for row in data.get("claims", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


@dataclass
class RecheckOutcome:
    changes: list[StudyChange] = field(default_factory=list)
    rereviews: list[Rereview] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # batches that failed: re-checked next run


@store_task(name="recheck-graded-studies")
def recheck_graded_studies(
    project: str,
    source: SourceSpec,
    claims_of: Mapping[str, set[str]],
    finals: Mapping[tuple[str, str], FinalGrade],
    db_path: Path,
    run_time: dt.datetime,
) -> RecheckOutcome:
    """Re-fetch graded studies and compare with the stored version (retractions, concerns, errata,
    publication-type changes per PubMed), and look them up in the stored Retraction Watch notices (by
    PMID or DOI). Each batch's flags are written before its new versions replace the old ones, so a run
    that dies in between re-detects the change next time rather than losing it; a notice is raised once."""
    outcome = RecheckOutcome()
    with connect(db_path) as con:
        before = article_store.get_articles(con, sorted(claims_of))
        pending = _new_notices(con, project, claims_of, before)
    if not before:
        return outcome
    for batch in open_source(source).fetch(list(before)):
        if batch.failed:
            outcome.errors.append(batch.error or "batch failed")
        if not batch.articles:
            continue
        changes = [
            change
            for article in batch.articles
            if article.pmid in before
            and (
                change := merge_changes(
                    compare_versions(before[article.pmid], article), pending.pop(article.pmid, None)
                )
            )
        ]
        titles = {a.pmid: a.title for a in batch.articles}
        _flag(project, changes, claims_of, finals, titles, db_path, run_time, outcome, batch.articles)
    if pending:  # notices about studies whose re-fetch failed or changed nothing else
        titles = {p: before[p].title for p in pending if p in before}
        _flag(project, list(pending.values()), claims_of, finals, titles, db_path, run_time, outcome, [])
    return outcome


def _new_notices(
    con: DuckDBPyConnection, project: str, claims_of: Mapping[str, set[str]], stored: Mapping[str, Article]
) -> dict[str, StudyChange]:
    """PMID → the Retraction Watch notices about it not yet raised for every claim that graded it."""
    dois = {a.doi for a in stored.values() if a.doi}
    notices = notice_store.notices_for(con, claims_of, (d for d in (normalise_doi(x) for x in dois) if d))
    if not notices:
        return {}
    already = notice_store.raised(con, project)
    out: dict[str, StudyChange] = {}
    for pmid in sorted(claims_of):
        article = stored.get(pmid)
        mine = [
            n
            for n in matching(notices, pmid, article.doi if article else None)
            if any((claim, pmid, n.record_id) not in already for claim in claims_of[pmid])
        ]
        if change := notice_change(pmid, mine):
            out[pmid] = change
    return out


def _flag(
    project: str,
    changes: list[StudyChange],
    claims_of: Mapping[str, set[str]],
    finals: Mapping[tuple[str, str], FinalGrade],
    titles: Mapping[str, str],
    db_path: Path,
    run_time: dt.datetime,
    outcome: RecheckOutcome,
    articles: Sequence[Article],
) -> None:
    """Write the flags of these changes (and the notices they raise), then store the new versions."""
    rereviews = _rereviews(changes, claims_of, finals, titles)
    kinds = {c.pmid: c.kinds for c in changes}
    with connect(db_path) as con:
        flag_store.add_flags(
            con,
            [
                flag_store.ReviewFlag(
                    project, r.claim_id, r.pmid, kinds[r.pmid], r.reason, r.included, run_time
                )
                for r in rereviews
            ],
        )
        records = [
            (claim, c.pmid, record)
            for c in changes
            for record in c.notice_ids
            for claim in sorted(claims_of.get(c.pmid, ()))
        ]
        notice_store.mark_raised(con, project, records, run_time)
        if articles:
            store_records(con, articles, run_time)
    outcome.changes += changes
    outcome.rereviews += rereviews


def _rereviews(
    changes: Sequence[StudyChange],
    claims_of: Mapping[str, set[str]],
    finals: Mapping[tuple[str, str], FinalGrade],
    titles: Mapping[str, str],
) -> list[Rereview]:
    out = []
    for change in changes:
        if not change.needs_rereview:
            continue
        for claim_id in sorted(claims_of.get(change.pmid, ())):
            final = finals.get((claim_id, change.pmid))
            out.append(
                Rereview(
                    claim_id=claim_id,
                    pmid=change.pmid,
                    title=titles.get(change.pmid, ""),
                    reason=change.detail,
                    included=bool(final and final.relevance == "include"),
                )
            )
    return out


def artifact_key(prefix: str, name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", f"{prefix}-{name}".lower())).strip("-")


@flow(name="living-refresh", flow_run_name="living-refresh {project}", **results_in_memory())
def living_refresh(
    project: str,
    source: SourceSpec | SourceKind = "eutils",
    db_path: Path | None = None,
    run_time: dt.datetime | None = None,
    reports_dir: Path | None = None,
    runner: Runner = "threads",
) -> LivingSummary:
    """The scheduled run of one project: refresh, re-check, report, digest.

    `source` is a spec, or (as in prefect.yaml) a source's name to configure from the environment of
    the process the run happens in. `runner` "dask" runs the claims' refresh tasks on a local Dask
    cluster (needs a Prefect server).
    """
    proj = load_project(project)
    store_path = db_path or config.db_path()
    out_dir = reports_dir or config.reports_dir(proj.name)
    when = run_stamp(run_time)
    spec = resolve(source)
    with project_lock(proj.name):
        before = previous_ratings(out_dir / "index.json")
        claims_of, finals = graded_studies(proj)
        refreshed = refresh_with_runner(runner)(
            project=str(proj.dir), source=spec, db_path=store_path, run_time=when, raise_on_failure=False
        )
        recheck = recheck_graded_studies(proj.name, spec, claims_of, finals, store_path, when)
        new_pmids = sorted({p for c in refreshed.claims for p in c.new_hits})
        with connect(store_path) as con:
            titles = {pmid: a.title for pmid, a in article_store.get_articles(con, new_pmids).items()}
        report = write_project_reports(proj, store_path, out_dir)
        after = {c.claim_id: c.rating for c in report.claims}
        flagged = {r.pmid for r in recheck.rereviews}
        digest = Digest(
            project=proj.name,
            run_time=when.isoformat(),
            source=spec.kind,
            new_studies={
                c.claim_id: [NewStudy(p, titles.get(p, "(not fetched)")) for p in c.new_hits]
                for c in refreshed.claims
            },
            rereviews=recheck.rereviews,
            other_changes=[c for c in recheck.changes if c.pmid not in flagged],
            rating_changes=rating_changes(before, after, [c.id for c in proj.claims]),
            warnings={
                c.claim_id: notes for c in refreshed.claims if (notes := search_notes(c.errors, c.warnings))
            },
            failures={
                **{c.claim_id: c.error or "failed" for c in refreshed.failed},
                **({RECHECK: "; ".join(sorted(set(recheck.errors)))} if recheck.errors else {}),
            },
        )
        text = render_digest(digest)
        path = _digest_path(out_dir / "digest", digest.date, text)
        write_atomic(path, text)
        create_markdown_artifact(
            markdown=text, key=artifact_key("digest", proj.name), description=f"What changed in {proj.name}"
        )
    if refreshed.failed:
        raise refreshed.failure()
    if recheck.errors:
        raise ClaimsFailedError(
            f"re-check of graded studies failed ({'; '.join(sorted(set(recheck.errors)))}): every claim "
            "was refreshed and reported; the next run re-checks them"
        )
    return LivingSummary(proj.name, path, digest)


def _digest_path(folder: Path, date: str, text: str) -> Path:
    """<date>.md; a second run on the same day gets <date>-2.md (unless it says exactly the same)."""
    candidate = folder / f"{date}.md"
    n = 1
    while candidate.exists() and candidate.read_text(encoding="utf-8") != text:
        n += 1
        candidate = folder / f"{date}-{n}.md"
    return candidate
