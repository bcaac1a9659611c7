"""The `refresh` Prefect flow: for each claim, search → fetch the records not yet stored → store.

Composes a SearchSource (E-utilities or mirror, opened from the source spec it is given) with the
DuckDB store; holds no domain logic itself.
HTTP retries belong to the E-utilities client alone (one retry policy, issue 4), so the search and
fetch tasks have no Prefect retries; the store tasks retry only when the DuckDB file is busy.
Records are stored batch by batch, so a run that dies keeps what it fetched and the next run resumes.
"""

# No `from __future__ import annotations`: Prefect validates the flow parameters against these
# annotations, and a served run gets this module by value (prefect.bundles), without the globals that
# would resolve them from strings.

import datetime as dt
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import config
from flows.curation.suggest import suggest
from flows.errors import ConfigError, InputError, LitgradeError
from flows.pipeline import early
from flows.pipeline.plan import SearchWindow, plan_window, query_hash, run_status
from flows.pipeline.sources import open_source, reset_sources, resolve
from flows.pipeline.tasks import results_in_memory, store_task
from flows.project.claims import Claim, load_project
from flows.pubmed.records import Article, ParseProblem
from flows.sources.protocol import FetchBatch, SearchResult, search_notes
from flows.sources.spec import SourceKind, SourceSpec
from flows.store import articles as article_store
from flows.store import searches
from flows.store.db import connect
from flows.store.suggestions import pmids_needing_suggestions, save_suggestions
from flows.tui import progress

MAX_PARALLEL_CLAIMS = 4


class ClaimsFailedError(LitgradeError):
    """Some claims' refresh failed; the others were stored. The next refresh retries them."""

    exit_code = 1


@dataclass
class FetchOutcome:
    fetched_pmids: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # not returned by the source
    failed_pmids: list[str] = field(default_factory=list)  # in batches that failed after retries
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # records the parser could not understand


@dataclass
class ClaimOutcome:
    claim_id: str
    status: str  # completed | incomplete | failed
    run_id: int | None = None
    found: int = 0
    new_hits: list[str] = field(default_factory=list)
    fetched: int = 0
    missing: list[str] = field(default_factory=list)
    incremental: bool = False
    requests: int | None = None
    warnings: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def line(self) -> str:
        if self.status == "failed":
            return f"✗ {self.claim_id}: failed — {self.error}"
        mode = "incremental" if self.incremental else "full"
        text = (
            f"{'✓' if self.status == 'completed' else '!'} {self.claim_id}: {self.found} found "
            f"({mode}), {len(self.new_hits)} new, {self.fetched} fetched"
        )
        if self.missing:
            text += f", {len(self.missing)} not returned"
        notes = search_notes(self.errors, self.warnings)
        if notes:
            text += " — NCBI: " + "; ".join(notes)
        return text


@dataclass
class RefreshSummary:
    project: str
    source: str
    run_time: str
    claims: list[ClaimOutcome]
    stats: dict[str, float] = field(default_factory=dict)  # requests, retries, throttled, bytes…
    problems: list[str] = field(default_factory=list)  # "PMID: reason" for records skipped unread

    @property
    def failed(self) -> list[ClaimOutcome]:
        return [c for c in self.claims if c.status == "failed"]

    def failure(self) -> ClaimsFailedError:
        return ClaimsFailedError(
            f"{len(self.failed)} of {len(self.claims)} claims failed: "
            + "; ".join(f"{c.claim_id} ({c.error})" for c in self.failed)
            + " — the others were stored; the next refresh retries the failed ones"
        )

    def stats_line(self) -> str:
        """The run's traffic as the person reading the log wants it (issue 4's per-run summary)."""
        if not self.stats:
            return f"source {self.source}: no HTTP traffic"
        s = self.stats
        return (
            f"{int(s.get('requests', 0))} requests, {int(s.get('retries', 0))} retries, "
            f"{int(s.get('throttled', 0))} × 429, {int(s.get('failures', 0))} failed, "
            f"{int(s.get('bytes', 0)) / 1e6:.1f} MB"
        )

    def markdown(self) -> str:
        rows = [
            f"| {c.claim_id} | {c.status} | {c.found} | {len(c.new_hits)} | {c.fetched} | "
            f"{len(c.missing)} | {(c.error or '').replace('|', '/')} |"
            for c in self.claims
        ]
        return "\n".join(
            [
                f"# Refresh of `{self.project}` ({self.source}, {self.run_time})",
                "",
                "| claim | status | found | new | fetched | not returned | error |",
                "|---|---|---|---|---|---|---|",
                *rows,
                "",
                f"Traffic: {self.stats_line()}",
                *(["", "Records skipped (the parser could not read them):"] if self.problems else []),
                *(f"- {p}" for p in self.problems),
            ]
        )


@dataclass(frozen=True)
class PlannedSearch:
    claim: Claim
    window: SearchWindow
    run_id: int


@store_task(name="plan-search-runs")
def plan_search_runs(
    project: str, claims: Sequence[Claim], source_kind: str, db_path: Path, run_time: dt.datetime
) -> list[PlannedSearch]:
    """Decide each claim's date window (incremental or full) and open its search run."""
    planned = []
    with connect(db_path) as con:
        for claim in claims:
            window = claim_window(con, project, claim, source_kind, run_time)
            run_id = searches.start_search_run(
                con,
                project=project,
                claim_id=claim.id,
                query=claim.query,
                query_hash=query_hash(claim.query),
                source=source_kind,
                mindate=window.mindate,
                maxdate=window.maxdate,
                incremental=window.incremental,
                started_at=run_time,
            )
            planned.append(PlannedSearch(claim, window, run_id))
    return planned


def claim_window(
    con: Any, project: str, claim: Claim, source_kind: str, run_time: dt.datetime
) -> SearchWindow:
    """The date window a claim's search asks for, given its last completed run in the store."""
    last = searches.last_completed_run(con, project, claim.id)
    return plan_window(
        query=claim.query,
        source=source_kind,
        run_time=run_time,
        last_query_hash=last.query_hash if last else None,
        last_source=last.source if last else None,
        last_started_at=last.started_at if last else None,
    )


def start_searches_early(
    project: str, claims: Sequence[Claim], source: SourceSpec, db_path: Path, run_time: dt.datetime
) -> None:
    """Start the claims' E-utilities searches before the flow run that plans the same windows
    (flows/pipeline/early.py). Call it holding the project's lock, which keeps those windows as read
    here, with the `run_time` the flow gets; the mirror answers at once and needs no head start."""
    if source.kind != "eutils" or not claims:
        return
    with connect(db_path) as con:
        windows = [(c.query, claim_window(con, project, c, source.kind, run_time)) for c in claims]
    reset_sources()  # the run counts these requests as its own: the flow keeps this source
    early.start(source, open_source(source), windows, MAX_PARALLEL_CLAIMS)


@task(name="search-pubmed", task_run_name="search-pubmed {plan.claim.id}", cache_policy=NONE)
def search_pubmed(source: SourceSpec, plan: PlannedSearch) -> SearchResult:
    started = early.take(source, plan.claim.query, plan.window)
    if started is not None:
        result = started.result()
    else:
        result = open_source(source).search(
            plan.claim.query, mindate=plan.window.mindate, maxdate=plan.window.maxdate
        )
    sink = progress.sink()
    if sink:
        sink.claim_searched(plan.claim.id, len(result.pmids))
    return result


def _record_search_results(
    con: Any, project: str, searched: Sequence[tuple[PlannedSearch, SearchResult]]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Remember what each search found; per claim, return its new hits and its PMIDs not yet stored."""
    new_hits: dict[str, list[str]] = {}
    outstanding: dict[str, list[str]] = {}
    for plan, result in searched:
        new_hits[plan.claim.id] = searches.record_hits(
            con, project=project, claim_id=plan.claim.id, run_id=plan.run_id, pmids=result.pmids
        )
        searches.record_search_result(con, plan.run_id, result, len(new_hits[plan.claim.id]))
        outstanding[plan.claim.id] = searches.outstanding_pmids(con, project, plan.claim.id)
    return new_hits, outstanding


@dataclass(frozen=True)
class Recorded:
    new_hits: dict[str, list[str]]
    outstanding: dict[str, list[str]]  # per claim, its PMIDs not yet stored
    outcomes: list[ClaimOutcome] | None  # the runs' outcomes when they were closed already


@store_task(name="record-search-results")
def record_and_close_if_nothing_to_fetch(
    project: str,
    plans: Sequence[PlannedSearch],
    results: Sequence[SearchResult | BaseException],
    db_path: Path,
    now: dt.datetime,
) -> Recorded:
    """Remember what each search found (per claim: its new hits, its PMIDs not yet stored); and when
    no claim has a record left to fetch (an unchanged refresh), close the runs as finish_search_runs
    does, on the same connection: each opening of the store costs tens of ms."""
    searched = [(p, r) for p, r in zip(plans, results, strict=True) if isinstance(r, SearchResult)]
    with connect(db_path) as con:
        new_hits, outstanding = _record_search_results(con, project, searched)
        if any(outstanding.values()):
            return Recorded(new_hits, outstanding, None)
        outcomes = claim_outcomes(plans, results, new_hits, outstanding, FetchOutcome())
        _finish_search_runs(con, outcomes, now)
    return Recorded(new_hits, outstanding, outcomes)


def store_records(
    con: Any,
    articles: Sequence[Article],
    now: dt.datetime,
    problems: Sequence[ParseProblem] = (),
    source: str = "",
) -> None:
    """Store fetched records with their suggested study design (made from exactly this version), and
    remember the records the parser could not read (their PMID and reason: fetch_problems)."""
    counts = article_store.upsert_articles(con, articles, now)
    save_suggestions(con, [(a, suggest(a)) for a in articles], now, hashes=counts.hashes)
    article_store.clear_fetch_problems(con, (a.pmid for a in articles))
    article_store.record_fetch_problems(con, [(p.pmid, p.reason) for p in problems], source, now)


def refresh_stale_suggestions(con: Any, now: dt.datetime) -> None:
    """Re-suggest records whose suggestion came from an older record version or older rules."""
    stale = pmids_needing_suggestions(con)
    if stale:
        stored = article_store.get_articles(con, stale)
        save_suggestions(con, [(a, suggest(a)) for a in stored.values()], now)


class StoreWriter:
    """Stores fetched batches on its own thread while the next ones are fetched (issue 17).

    Batches queue up while a write is under way and the next write takes all of them in one short
    connection, so a slow store never holds back requests, and a fast one writes each batch as it
    comes. Use as a context manager: leaving it waits for the last write and re-raises a write's error.
    """

    def __init__(self, db_path: Path, now: dt.datetime, source: str) -> None:
        self._db_path, self._now, self._source = db_path, now, source
        self._queue: queue.SimpleQueue[FetchBatch | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    def __enter__(self) -> "StoreWriter":
        self._thread.start()
        return self

    def put(self, batch: FetchBatch) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(batch)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error

    def _run(self) -> None:
        done = False
        while not done:
            group = [self._queue.get()]
            while True:  # everything that arrived during the last write
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = None in group  # the flow finished fetching: write what is left, then stop
            batches = [b for b in group if b is not None]
            if self._error is not None or not batches:
                continue
            try:
                with connect(self._db_path) as con:
                    store_records(
                        con,
                        [a for b in batches for a in b.articles],
                        self._now,
                        [p for b in batches for p in b.problems],
                        self._source,
                    )
            except BaseException as exc:  # re-raised by the flow's thread; the rest is not written
                self._error = exc


@store_task(name="fetch-and-store-records")
def fetch_and_store_records(
    source: SourceSpec, pmids: Sequence[str], db_path: Path, now: dt.datetime
) -> FetchOutcome:
    """Fetch the records no claim has stored yet, once each, and store them as they arrive (on the
    StoreWriter's thread, overlapped with the next requests). A record the parser could not read
    is recorded with its PMID and reason; the rest of its batch is stored."""
    outcome = FetchOutcome()
    sink = progress.sink()
    with StoreWriter(db_path, now, source.kind) as writer:
        for batch in open_source(source).fetch(list(pmids)) if pmids else ():
            if batch.failed:
                outcome.failed_pmids.extend(batch.requested)
                outcome.errors.append(batch.error or "batch failed")
            outcome.missing.extend(batch.missing)
            outcome.problems.extend(f"{p.pmid or '?'}: {p.reason}" for p in batch.problems)
            if batch.articles or batch.problems:
                writer.put(batch)
            outcome.fetched_pmids.extend(a.pmid for a in batch.articles)
            if sink and batch.articles:
                sink.records_fetched(len(batch.articles))
    return outcome


def _claim_outcome(
    plan: PlannedSearch,
    result: SearchResult | BaseException,
    new_hits: list[str],
    needed: set[str],
    fetched: FetchOutcome,
) -> ClaimOutcome:
    outcome = ClaimOutcome(plan.claim.id, "failed", run_id=plan.run_id, incremental=plan.window.incremental)
    if isinstance(result, BaseException):
        outcome.error = str(result) or type(result).__name__
        return outcome
    outcome.found, outcome.errors, outcome.warnings = len(result.pmids), result.errors, result.warnings
    outcome.new_hits = new_hits
    outcome.requests = result.requests
    outcome.fetched = len(needed & set(fetched.fetched_pmids))
    outcome.missing = sorted(needed & set(fetched.missing))
    failed = needed & set(fetched.failed_pmids)
    outcome.status = run_status(fetch_failed=bool(failed))
    if failed:
        outcome.error = f"{len(failed)} record(s) not fetched: " + "; ".join(sorted(set(fetched.errors)))
    return outcome


def claim_outcomes(
    plans: Sequence[PlannedSearch],
    results: Sequence[SearchResult | BaseException],
    new_hits: dict[str, list[str]],
    outstanding: dict[str, list[str]],
    fetched: FetchOutcome,
) -> list[ClaimOutcome]:
    return [
        _claim_outcome(p, r, new_hits.get(p.claim.id, []), set(outstanding.get(p.claim.id, [])), fetched)
        for p, r in zip(plans, results, strict=True)
    ]


@store_task(name="finish-search-runs")
def finish_search_runs(outcomes: Sequence[ClaimOutcome], db_path: Path, now: dt.datetime) -> None:
    """Close each claim's search run, and bring stale suggestions (older record version or older
    rules) up to date: on the same connection, as every opening of the store costs tens of ms."""
    with connect(db_path) as con:
        _finish_search_runs(con, outcomes, now)


def _finish_search_runs(con: Any, outcomes: Sequence[ClaimOutcome], now: dt.datetime) -> None:
    for outcome in outcomes:
        assert outcome.run_id is not None
        searches.finish_search_run(
            con,
            outcome.run_id,
            status=outcome.status,
            finished_at=now,
            fetched=outcome.fetched,
            missing_pmids=outcome.missing,
            requests=outcome.requests,
            error=outcome.error,
        )
    refresh_stale_suggestions(con, now)


Runner = Literal["threads", "dask"]
RUNNERS: tuple[Runner, ...] = ("threads", "dask")


def check_runner(runner: str) -> Runner:
    """The task runner named on the command line, refused in one line if unknown, or if it is Dask and
    no Prefect server is configured (its worker processes report task runs to the server)."""
    chosen = next((r for r in RUNNERS if r == runner), None)
    if chosen is None:
        raise InputError(f"unknown runner '{runner}': use one of {', '.join(RUNNERS)}")
    if chosen == "dask" and not config.prefect_server_paces():
        raise ConfigError(
            "--runner dask needs a Prefect server (tasks run in other processes): run "
            "`prefect server start --host 127.0.0.1` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    return chosen


def refresh_with_runner(runner: Runner) -> Any:
    """The refresh flow on the chosen task runner: threads in this process (default), or a local Dask
    cluster (prefect-dask) for large projects. Dask needs a Prefect server: worker processes report
    task runs to it, and they pace NCBI through its global rate limit (flows/pipeline/global_pace.py)."""
    if check_runner(runner) == "threads":
        return refresh_flow
    from prefect_dask import DaskTaskRunner

    return refresh_flow.with_options(
        task_runner=DaskTaskRunner(  # type: ignore[arg-type]
            cluster_kwargs={"n_workers": 2, "threads_per_worker": 2, "dashboard_address": None}
        )
    )


def parse_run_time(run_time: str | None) -> dt.datetime | None:
    """A --run-time option as a date-time (None: now, when the run starts)."""
    if not run_time:
        return None
    try:
        return dt.datetime.fromisoformat(run_time)
    except ValueError as exc:
        raise InputError(f"run time '{run_time}' is not an ISO date-time (e.g. 2026-11-24T06:00:00)") from exc


def run_stamp(run_time: dt.datetime | None) -> dt.datetime:
    """The time a run's records are stamped with: naive UTC, whole seconds when it is now."""
    if run_time is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    return run_time.astimezone(dt.UTC).replace(tzinfo=None) if run_time.tzinfo else run_time


@flow(
    name="refresh",
    flow_run_name="refresh {project}",
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_PARALLEL_CLAIMS),  # type: ignore[arg-type]
    **results_in_memory(),
)
def refresh_flow(
    project: str,
    claim: str | None = None,
    source: SourceSpec | SourceKind = "eutils",
    db_path: Path | None = None,
    run_time: dt.datetime | None = None,
    raise_on_failure: bool = True,
) -> RefreshSummary:
    """Refresh a project's claims (all, or one) from `source` into the store at `db_path`.

    `source` is a spec (`flows.config.source_spec` builds one from the environment), or a source's
    name to configure from this process's environment. `run_time` stamps the search runs; the demo
    passes its snapshot date so output is deterministic. Raises ClaimsFailedError after storing
    everything that succeeded (unless `raise_on_failure` is off: then the caller reads the failures
    from the summary).
    """
    proj = load_project(project)
    claims = [proj.claim(claim)] if claim else list(proj.claims)
    store_path = db_path or config.db_path()
    when = run_stamp(run_time)
    spec = resolve(source)
    if not early.any_started():  # else its source is this run's already (start_searches_early)
        reset_sources()  # this run's own traffic figures, and a mirror rebuilt since the last run read anew
    search_source = open_source(spec)
    sink = progress.sink()
    if sink:
        sink.started(len(claims))
    plans = plan_search_runs(proj.name, claims, spec.kind, store_path, when)
    futures = [search_pubmed.submit(spec, plan) for plan in plans]
    results: list[SearchResult | BaseException] = []
    for future in futures:
        try:
            results.append(future.result())
        except Exception as exc:  # one claim's failed search must not stop the others
            results.append(exc)
    recorded = record_and_close_if_nothing_to_fetch(proj.name, plans, results, store_path, when)
    fetched = FetchOutcome()
    outcomes = recorded.outcomes
    if outcomes is None:  # records to fetch (else an unchanged refresh: its runs are closed already)
        to_fetch = list(dict.fromkeys(p for pmids in recorded.outstanding.values() for p in pmids))
        fetched = fetch_and_store_records(spec, to_fetch, store_path, when)
        outcomes = claim_outcomes(plans, results, recorded.new_hits, recorded.outstanding, fetched)
        finish_search_runs(outcomes, store_path, when)
    if sink:
        for outcome in outcomes:
            sink.claim_finished(outcome.claim_id, outcome.line())
    stats = getattr(search_source, "stats", None)
    summary = RefreshSummary(
        project=proj.name,
        source=spec.kind,
        run_time=when.isoformat(),
        claims=outcomes,
        stats=stats.as_dict() if stats is not None else {},
        problems=fetched.problems,
    )
    logger = get_run_logger()
    logger.info("refresh %s: %s", proj.name, summary.stats_line())
    for problem in fetched.problems:
        logger.warning("record skipped, the parser could not read it: %s", problem)
    create_markdown_artifact(
        markdown=summary.markdown(), key=f"refresh-{proj.name}", description="New records per claim"
    )
    if summary.failed and raise_on_failure:
        raise summary.failure()
    return summary
