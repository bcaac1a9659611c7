"""Write a project's reports: each claim's HTML/Markdown/JSON and the article scorecard.

Reads the store read-only (search runs, hits, records) and the grades from the curators' files, builds
the data (reports.model), renders it (reports.render) and stages every file as a durable temp file
(reports.stage) before the first is renamed into place (os.replace), so a failure leaves the previous
reports whole. The store is never written:
a report runs beside the web app or another reader, and needs no write lock. Each claim's previous
JSON is read before it is replaced: that is what "changes since the previous report" compares with.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from duckdb import DuckDBPyConnection

from flows.atomic import Staged, commit_staged, discard_staged, stage_files
from flows.curation.events import FinalGrade, GradeEvent
from flows.curation.journal import read_events
from flows.curation.review import decisions, final_grades
from flows.errors import InputError
from flows.evidence.rating import load_rules
from flows.evidence.recheck import with_notices
from flows.evidence.retraction_watch import matching, normalise_doi
from flows.ids import is_slug
from flows.project.claims import Project, load_project
from flows.pubmed.records import Article
from flows.reports.model import ClaimInputs, build_claim_report, build_scorecard, fingerprint
from flows.reports.render import render_scorecard
from flows.reports.stage import stage_claims
from flows.sources.runs import SearchRun
from flows.store import articles as article_store
from flows.store import reporting
from flows.store import retractions as notice_store
from flows.store.db import connect, require_current

FORMATS = ("html", "md", "json")


@dataclass(frozen=True, slots=True)
class ClaimLine:
    claim_id: str
    rating: str
    rating_label: str
    rule_id: str
    included: int
    awaiting: int
    in_conflict: int


@dataclass(frozen=True, slots=True)
class ReportSummary:
    project: str
    out_dir: Path
    files: tuple[Path, ...]
    claims: tuple[ClaimLine, ...]
    evidence_as_of: str | None
    snapshot_notes: tuple[str, ...] = ()
    unchanged: int = 0  # claims whose files were already up to date (not rendered again)

    def lines(self) -> list[str]:
        """What the CLI prints: where the reports are, then one line per claim."""
        rules = load_rules()
        counts: dict[str, int] = {}
        for c in sorted(self.claims, key=lambda c: rules.rank(c.rating)):  # best rating first
            counts[c.rating_label] = counts.get(c.rating_label, 0) + 1
        tally = ", ".join(f"{n} {label.lower()}" for label, n in counts.items())
        out = [
            f"wrote {len(self.files)} files for {len(self.claims)} claim(s) of {self.project} to "
            f"{self.out_dir} ({tally or 'no claims'}); "
            f"evidence as of {self.evidence_as_of or 'never searched'}"
            + (f"; {self.unchanged} claim(s) unchanged, not rendered again" if self.unchanged else "")
        ]
        out.extend(self.snapshot_notes)
        for c in self.claims:
            work = f", {c.awaiting} to grade" if c.awaiting else ""
            work += f", {c.in_conflict} in conflict" if c.in_conflict else ""
            out.append(f"- {c.claim_id}: {c.rating_label} ({c.rule_id}; {c.included} included{work})")
        return out


def read_previous(path: Path) -> dict[str, Any] | None:
    """The last report's JSON, or None (missing, or unreadable: then changes start afresh)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _states(
    project: Project, events: list[GradeEvent], hits: Mapping[str, list[str]]
) -> dict[str, dict[str, str]]:
    table = decisions(events)
    out: dict[str, dict[str, str]] = {}
    for claim in project.claims:
        reviewers = project.reviewers_for(claim.id)
        out[claim.id] = {
            pmid: table[(claim.id, pmid)].state(reviewers)
            for pmid in hits.get(claim.id, [])
            if (claim.id, pmid) in table
        }
    return out


def _read_store(
    project: Project, db_path: Path
) -> tuple[dict[str, list[SearchRun]], dict[int, int], dict[str, list[str]], dict[str, Article]]:
    """Runs per claim, records identified per run, hits per claim and their records; all empty when
    no store exists yet (never searched: the report says so rather than creating a store)."""
    if not db_path.exists():
        return {}, {}, {}, {}
    with connect(db_path, read_only=True) as con:
        require_current(con, db_path, project.name)
        runs = reporting.runs_by_claim(con, project.name)
        identified = reporting.identified_per_run(con, project.name)
        hits = reporting.hits_by_claim(con, project.name)
        wanted = [p for c in project.claims for p in hits.get(c.id, [])]
        articles = article_store.get_articles(con, wanted)
        articles = _with_retraction_watch(con, articles)
    return runs, identified, hits, articles


def _with_retraction_watch(con: DuckDBPyConnection, articles: dict[str, Article]) -> dict[str, Article]:
    """Retractions and expressions of concern that only Retraction Watch reports (ingested with
    `litgrade retractions ingest`) count as PubMed's own do: flagged, and never counted in a rating."""
    dois = {d for a in articles.values() if (d := normalise_doi(a.doi))}
    notices = notice_store.notices_for(con, articles, dois)
    if not notices:
        return articles
    return {p: with_notices(a, matching(notices, p, a.doi)) for p, a in articles.items()}


def build_project_reports(
    project: Project, db_path: Path, previous_dir: Path, *, snapshot_note: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The data of every claim report and of the scorecard (nothing written); each claim's changes
    compare with its JSON in `previous_dir`."""
    for claim in project.claims:
        if not is_slug(claim.id):  # it becomes a file name
            raise InputError(f"{project.claims_file}: claim id '{claim.id}' is not a lowercase slug")
    events = read_events(project.dir)
    finals = final_grades(project, events)
    runs, identified, hits, articles = _read_store(project, db_path)
    by_claim: dict[str, list[FinalGrade]] = {}
    for grade in finals:
        by_claim.setdefault(grade.claim, []).append(grade)
    states = _states(project, events, hits)
    rules = load_rules()
    reports = []
    for claim in project.claims:
        inputs = ClaimInputs(
            project=project.name,
            article=project.article,
            claim=claim,
            runs=runs.get(claim.id, []),
            identified=identified,
            hits=hits.get(claim.id, []),
            articles=articles,
            final_grades=by_claim.get(claim.id, []),
            states=states[claim.id],
            previous=read_previous(previous_dir / f"{claim.id}.json"),
            snapshot_note=snapshot_note,
        )
        reports.append(build_claim_report(inputs, rules))
    return reports, build_scorecard(project.name, project.article, reports, rules)


def write_project_reports(
    project: Project | str | Path,
    db_path: Path,
    out_dir: Path,
    *,
    snapshot_note: str | None = None,
    previous_dir: Path | None = None,
    workers: int | None = None,
) -> ReportSummary:
    """Write reports/<project>/<claim>.{html,md,json} and index.{html,md,json}; say what was written.

    `snapshot_note` replaces the sentence reports show for runs on an offline mirror ("{n}" is filled
    with the snapshot's record count); a run's own `snapshot_note` (JSON source_detail) wins over it.
    `previous_dir` (default `out_dir`) holds the reports that "changes since the previous report"
    compare with: pass the published folder when writing into a staging one.
    Claims whose report is unchanged since the last write into `out_dir` are not rendered again
    (see write_changed); `workers` processes render the rest (default: by CPU count and claims).
    """
    proj = project if isinstance(project, Project) else load_project(project)
    out_dir = Path(out_dir)
    previous = Path(previous_dir) if previous_dir is not None else out_dir
    reports, scorecard = build_project_reports(proj, Path(db_path), previous, snapshot_note=snapshot_note)
    written, skipped = write_changed(reports, scorecard, out_dir, workers=workers)
    return ReportSummary(
        project=proj.name,
        out_dir=out_dir,
        files=tuple(sorted(p for p in written if p.name != RENDER_STATE)),
        claims=tuple(
            ClaimLine(
                claim_id=r["claim"]["id"],
                rating=r["rating"]["id"],
                rating_label=r["rating"]["label"],
                rule_id=r["rating"]["rule_id"],
                included=r["prisma"]["included"],
                awaiting=r["prisma"]["awaiting_grading"],
                in_conflict=r["prisma"]["in_conflict"],
            )
            for r in reports
        ),
        evidence_as_of=scorecard["evidence_as_of"],
        snapshot_notes=tuple(scorecard["snapshot_notes"]),
        unchanged=skipped,
    )


# -- rendering only what changed ----------------------------------------------------------------

RENDER_STATE = ".litgrade-render"  # JSON beside the reports: what each claim's files were rendered from
CLAIM_SUFFIXES = (".html", ".md", ".json", ".prisma.svg", ".prisma2020.csv")
PARALLEL_MIN_CLAIMS = 200  # below this, starting worker processes costs more than it saves
BATCH_CLAIMS = 25  # claims per staged batch (~18 MB of text): bounds memory; a worker's unit of work
_RENDER_CODE = ("render.py", "charts.py", "prisma.py", "model.py", "stage.py", "write.py")


@lru_cache(maxsize=1)
def renderer_id() -> str:
    """Identifies the code that turns report data into files: templates and the report modules (the
    model too: it computes the fingerprint). A claim's files are reused only if this and its report
    data are the same as when they were written."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in [*(here / name for name in _RENDER_CODE), *sorted((here / "templates").glob("*.j2"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def report_key(report: dict[str, Any]) -> str:
    """What a claim's JSON file holds, in a few bytes: the report's fingerprint (a hash of its content)
    and a hash of its `changes` (the one part the fingerprint leaves out). Cheaper than hashing the
    rendered JSON of a large report."""
    changes = json.dumps(report.get("changes"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{report['fingerprint']}:{hashlib.sha256(changes.encode('utf-8')).hexdigest()}"


@dataclass(frozen=True, slots=True)
class RenderState:
    """What RENDER_STATE says the files in a folder were rendered from: a report_key per claim and
    the scorecard's fingerprint (None: render everything)."""

    claims: dict[str, str]
    index: str | None = None


def _read_state(out_dir: Path) -> RenderState:
    data = read_previous(out_dir / RENDER_STATE)
    if not data or data.get("renderer") != renderer_id() or not isinstance(data.get("claims"), dict):
        return RenderState({})
    index = data.get("index")
    return RenderState({str(k): str(v) for k, v in data["claims"].items()}, str(index) if index else None)


def _changed_reports(
    reports: list[dict[str, Any]], keys: Mapping[str, str], state: RenderState, present: set[str]
) -> list[dict[str, Any]]:
    """The reports whose files must be rendered: report_key differs from the one in RENDER_STATE (or
    the renderer changed), or one of the claim's files is missing."""
    return [
        r
        for r in reports
        if state.claims.get(r["claim"]["id"]) != keys[r["claim"]["id"]]
        or not all(f"{r['claim']['id']}{suffix}" in present for suffix in CLAIM_SUFFIXES)
    ]


def _index_files(
    scorecard: dict[str, Any], key: str, state: RenderState, present: set[str]
) -> dict[str, str]:
    """index.{html,md,json}, unless RENDER_STATE says they were rendered from this very scorecard and
    all three are there: with many claims the scorecard is the largest page (1,000 claims sharing
    studies: 176 MB, 8 s to render), and most runs leave it as it was."""
    names = [f"index.{fmt}" for fmt in FORMATS]
    if state.index == key and all(name in present for name in names):
        return {}
    return {f"index.{fmt}": text for fmt, text in render_scorecard(scorecard).items()}


def _files_in(folder: Path) -> set[str]:
    """Names of the regular files in `folder` (one directory listing, not a stat per claim file)."""
    if not folder.is_dir():
        return set()
    with os.scandir(folder) as entries:
        return {e.name for e in entries if e.is_file()}


def _state_text(keys: Mapping[str, str], index_key: str) -> str:
    state = {"renderer": renderer_id(), "claims": keys, "index": index_key}
    return json.dumps(state, sort_keys=True, indent=0) + "\n"


def write_changed(
    reports: list[dict[str, Any]],
    scorecard: dict[str, Any],
    out_dir: Path,
    *,
    workers: int | None = None,
) -> tuple[list[Path], int]:
    """(files written, claims skipped): write into `out_dir` the files of every claim whose report
    changed since the last write there (see _changed_reports), the scorecard if it changed, and the
    new RENDER_STATE (last, so it is replaced after the files it describes). Every file is staged
    (temp file, fsync) before the first is renamed into place: a failure or an interrupted run
    leaves the previous reports whole."""
    keys = {r["claim"]["id"]: report_key(r) for r in reports}
    index_key = fingerprint(scorecard)
    state, present = _read_state(out_dir), _files_in(out_dir)
    todo = _changed_reports(reports, keys, state, present)
    staged: list[Staged] = []
    try:
        staged += _stage_in_parallel(todo, out_dir, workers)
        index = _index_files(scorecard, index_key, state, present)
        staged += stage_files({out_dir / name: text for name, text in index.items()})
        staged += stage_files({out_dir / RENDER_STATE: _state_text(keys, index_key)})
        commit_staged(staged)
    except BaseException:
        discard_staged(staged)
        raise
    return [path for _, path in staged], len(reports) - len(todo)


def auto_workers(claims: int) -> int:
    """Worker processes for rendering `claims` claims: only with many claims and at least two idle
    cores. On a busy machine (measured: 2 cores, load 11) worker processes made a cold render of 1,000
    claims 0.65× as fast, so then the render stays in this process."""
    cores = os.cpu_count() or 1
    idle = cores - os.getloadavg()[0]
    return min(cores, 4) if claims >= PARALLEL_MIN_CLAIMS and idle >= 2 else 1


def _batches(reports: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [reports[i : i + BATCH_CLAIMS] for i in range(0, len(reports), BATCH_CLAIMS)]


def _stage_in_parallel(reports: list[dict[str, Any]], out_dir: Path, workers: int | None) -> list[Staged]:
    """Render and stage each claim's files, in batches; in `workers` processes when there are many
    claims and more than one core. Each worker stages its batches itself and returns only the temp
    files' names; what was staged is discarded if any batch fails."""
    count = workers if workers is not None else auto_workers(len(reports))
    batches = _batches(reports)
    if count <= 1 or len(batches) < 2:
        return _stage_serially(batches, out_dir)
    # forkserver: safe from a process with threads (a Prefect flow); preloading the render stack there
    # means each worker forks with Jinja2 imported instead of importing it again
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["flows.reports.stage"])
    staged: list[Staged] = []
    failure: BaseException | None = None
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        futures = [pool.submit(stage_claims, batch, out_dir) for batch in batches]
        for future in futures:  # every batch collected, so none of a failed run's temp files is left
            try:
                staged += future.result()
            except BaseException as exc:  # re-raised below, once every batch is in
                failure = failure or exc
    if failure is not None:
        discard_staged(staged)
        raise failure
    return staged


def _stage_serially(batches: list[list[dict[str, Any]]], out_dir: Path) -> list[Staged]:
    staged: list[Staged] = []
    try:
        for batch in batches:
            staged += stage_claims(batch, out_dir)
    except BaseException:
        discard_staged(staged)
        raise
    return staged
