"""Read what an export needs (the store read-only, the grade files), build the text, write it atomically
or to standard output."""

from __future__ import annotations

import sys
from pathlib import Path

from flows.atomic import write_atomic
from flows.curation.journal import read_events
from flows.curation.review import decisions, final_grades
from flows.errors import InputError
from flows.evidence.retraction_watch import Notice, normalise_doi
from flows.exports.bibtex import to_bibtex
from flows.exports.ris import to_ris
from flows.exports.study import WHAT, ExportStudy, What, build_studies
from flows.exports.table import to_csv
from flows.project.claims import Project
from flows.pubmed.records import Article
from flows.store import articles as article_store
from flows.store import reporting
from flows.store import retractions as notice_store
from flows.store.db import connect, require_current

FORMATS = {"ris": to_ris, "bibtex": to_bibtex, "csv": to_csv}


def export_studies(project: Project, db_path: Path, claim: str | None, what: What) -> list[ExportStudy]:
    """The studies of one claim (or all) with their records, grades and retraction status."""
    if what not in WHAT:
        raise InputError(f"--what must be one of {', '.join(WHAT)}, got {what!r}")
    claim_ids = [c.id for c in project.claims]
    if claim is not None and claim not in claim_ids:
        raise InputError(
            f"{project.claims_file}: no claim '{claim}' (claims: {', '.join(claim_ids) or 'none'})"
        )
    wanted = [claim] if claim else claim_ids
    events = read_events(project.dir)
    finals = [g for g in final_grades(project, events) if g.claim in wanted]
    table = decisions(events)
    states = {key: d.state(project.reviewers_for(key[0])) for key, d in table.items() if key[0] in wanted}
    hits: dict[str, list[str]] = {}
    articles: dict[str, Article] = {}
    notices: list[Notice] = []
    if db_path.exists():
        with connect(db_path, read_only=True) as con:
            require_current(con, db_path, project.name)
            hits = {c: p for c, p in reporting.hits_by_claim(con, project.name).items() if c in wanted}
            pmids = sorted({p for ps in hits.values() for p in ps})
            articles = article_store.get_articles(con, pmids)
            dois = {d for a in articles.values() if (d := normalise_doi(a.doi))}
            notices = notice_store.notices_for(con, pmids, dois)
    return build_studies(wanted, hits, articles, finals, states, notices, what)


def export_text(studies: list[ExportStudy], fmt: str) -> str:
    try:
        render = FORMATS[fmt]
    except KeyError:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}") from None
    return render(studies)


def write_export(text: str, out: str) -> Path | None:
    """`-` → standard output (returns None); a path → written atomically (returns it)."""
    if out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    path = Path(out)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; pass a file name for --out")
    write_atomic(path, text)
    return path
