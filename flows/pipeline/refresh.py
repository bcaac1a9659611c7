"""The `refresh` Prefect flow: for each claim, search → fetch the records not yet stored → store.

Composes a SearchSource (E-utilities or mirror) with the DuckDB store; holds no domain logic itself.
HTTP retries belong to the E-utilities client alone (one retry policy, issue 4), so the search and
fetch tasks have no Prefect retries; the store tasks retry only when the DuckDB file is busy.
Records are stored batch by batch, so a run that dies keeps what it fetched and the next run resumes.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import config
from flows.curation.suggest import suggest
from flows.errors import ConfigError, InputError, LitgradeError, StoreBusyError
from flows.pipeline.plan import SearchWindow, plan_window, query_hash, run_status
from flows.project.claims import Claim, load_project
from flows.pubmed.records import Article
from flows.sources.protocol import SearchResult, SearchSource, search_notes
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


_sources: dict[str, SearchSource] = {}
_sources_lock = threading.Lock()


def source_for(kind: str) -> SearchSource:
    """One source per kind per process: every task shares its rate limiter and connection pool.

    Tasks receive the kind, not the object, so they can run in other processes (Dask workers).
    """
    with _sources_lock:
        if kind not in _sources:
            _sources[kind] = make_source(kind)
        return _sources[kind]


def reset_sources() -> None:
    """Forget cached sources (configuration changed, e.g. between tests)."""
    with _sources_lock:
        _sources.clear()


def make_source(kind: str) -> SearchSource:
    if kind == "eutils":
        from flows.pipeline.global_pace import pacer_for
        from flows.sources.eutils.client import EutilsClient

        settings = config.eutils_settings()
        return EutilsClient(settings, limiter=pacer_for(settings.max_requests_per_second))
    if kind == "mirror":
        from flows.sources.mirror.source import MirrorSource
        from flows.store.mirror import MirrorIndex

        path = config.mirror_path()
        if not path.exists():
            raise ConfigError(
                f"no mirror at {path}: build one with `litgrade mirror ingest FILE...` "
                "or set LITGRADE_MIRROR"
            )
        return MirrorSource(MirrorIndex(path))
    raise InputError(f"unknown source '{kind}': use 'eutils' or 'mirror'")


def store_busy(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except StoreBusyError:
        return True
    except Exception:
        return False
    return False


@dataclass(frozen=True)
class PlannedSearch:
    claim: Claim
    window: SearchWindow
    run_id: int


@task(name="plan-search-runs", cache_policy=NONE, retries=3, retry_delay_seconds=2,
      retry_condition_fn=store_busy)
def plan_search_runs(
    project: str, claims: Sequence[Claim], source_kind: str, db_path: Path, run_time: dt.datetime
) -> list[PlannedSearch]:
    """Decide each claim's date window (incremental or full) and open its search run."""
    planned = []
    with connect(db_path) as con:
        for claim in claims:
            last = searches.last_completed_run(con, project, claim.id)
            window = plan_window(
                query=claim.query,
                source=source_kind,
                run_time=run_time,
                last_query_hash=last.query_hash if last else None,
                last_source=last.source if last else None,
                last_started_at=last.started_at if last else None,
            )
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


@task(name="search-pubmed", task_run_name="search-pubmed {plan.claim.id}", cache_policy=NONE)
def search_pubmed(source_kind: str, plan: PlannedSearch) -> SearchResult:
    result = source_for(source_kind).search(
        plan.claim.query, mindate=plan.window.mindate, maxdate=plan.window.maxdate
    )
    sink = progress.sink()
    if sink:
        sink.claim_searched(plan.claim.id, len(result.pmids))
    return result


@task(name="record-search-results", cache_policy=NONE, retries=3, retry_delay_seconds=2,
      retry_condition_fn=store_busy)
def record_search_results(
    project: str, searched: Sequence[tuple[PlannedSearch, SearchResult]], db_path: Path
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Remember what each search found; per claim, return its new hits and its PMIDs not yet stored."""
    new_hits: dict[str, list[str]] = {}
    outstanding: dict[str, list[str]] = {}
    with connect(db_path) as con:
        for plan, result in searched:
            new_hits[plan.claim.id] = searches.record_hits(
                con, project=project, claim_id=plan.claim.id, run_id=plan.run_id, pmids=result.pmids
            )
            searches.record_search_result(con, plan.run_id, result, len(new_hits[plan.claim.id]))
            outstanding[plan.claim.id] = searches.outstanding_pmids(con, project, plan.claim.id)
    return new_hits, outstanding


def store_records(con: Any, articles: Sequence[Article], now: dt.datetime) -> None:
    """Store fetched records with their suggested study design (made from exactly this version)."""
    article_store.upsert_articles(con, articles, now)
    save_suggestions(con, [(a, suggest(a)) for a in articles], now)


def refresh_stale_suggestions(con: Any, now: dt.datetime) -> None:
    """Re-suggest records whose suggestion came from an older record version or older rules."""
    stale = pmids_needing_suggestions(con)
    if stale:
        stored = article_store.get_articles(con, stale)
        save_suggestions(con, [(a, suggest(a)) for a in stored.values()], now)


@task(name="fetch-and-store-records", cache_policy=NONE, retries=3, retry_delay_seconds=2,
      retry_condition_fn=store_busy)
def fetch_and_store_records(
    source_kind: str, pmids: Sequence[str], db_path: Path, now: dt.datetime
) -> FetchOutcome:
    """Fetch the records no claim has stored yet, once each, and store them batch by batch; then
    bring stale suggestions (older record version or older rules) up to date."""
    outcome = FetchOutcome()
    sink = progress.sink()
    for batch in source_for(source_kind).fetch(list(pmids)) if pmids else ():
        if batch.failed:
            outcome.failed_pmids.extend(batch.requested)
            outcome.errors.append(batch.error or "batch failed")
        outcome.missing.extend(batch.missing)
        outcome.problems.extend(f"{p.pmid or '?'}: {p.reason}" for p in batch.problems)
        if batch.articles:
            with connect(db_path) as con:
                store_records(con, batch.articles, now)
            outcome.fetched_pmids.extend(a.pmid for a in batch.articles)
            if sink:
                sink.records_fetched(len(batch.articles))
    with connect(db_path) as con:
        refresh_stale_suggestions(con, now)
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


@task(name="finish-search-runs", cache_policy=NONE, retries=3, retry_delay_seconds=2,
      retry_condition_fn=store_busy)
def finish_search_runs(outcomes: Sequence[ClaimOutcome], db_path: Path, now: dt.datetime) -> None:
    with connect(db_path) as con:
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


RUNNERS = ("threads", "dask")


def refresh_with_runner(runner: str) -> Any:
    """The refresh flow on the chosen task runner: threads in this process (default), or a local Dask
    cluster (prefect-dask) for large projects. Dask needs a Prefect server: worker processes report
    task runs to it, and they pace NCBI through its global rate limit (flows/pipeline/global_pace.py)."""
    if runner == "threads":
        return refresh_flow
    if runner != "dask":
        raise InputError(f"unknown runner '{runner}': use one of {', '.join(RUNNERS)}")
    from flows.pipeline.global_pace import server_configured

    if not server_configured():
        raise ConfigError(
            "--runner dask needs a Prefect server (tasks run in other processes): run "
            "`prefect server start --host 127.0.0.1` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    from prefect_dask import DaskTaskRunner

    return refresh_flow.with_options(
        task_runner=DaskTaskRunner(  # type: ignore[arg-type]
            cluster_kwargs={"n_workers": 2, "threads_per_worker": 2, "dashboard_address": None}
        )
    )


def parse_run_time(run_time: str | None) -> dt.datetime:
    if not run_time:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    try:
        parsed = dt.datetime.fromisoformat(run_time)
    except ValueError as exc:
        raise InputError(f"run time '{run_time}' is not an ISO date-time (e.g. 2026-11-24T06:00:00)") from exc
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


@flow(
    name="refresh",
    flow_run_name="refresh {project}",
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_PARALLEL_CLAIMS),  # type: ignore[arg-type]
    validate_parameters=False,
)
def refresh_flow(
    project: str,
    claim: str | None = None,
    source: str = "eutils",
    db_path: str | None = None,
    run_time: str | None = None,
    raise_on_failure: bool = True,
) -> RefreshSummary:
    """Refresh a project's claims (all, or one) from `source` into the store at `db_path`.

    `run_time` (ISO) stamps the search runs; the demo passes its snapshot date so output is
    deterministic. Raises ClaimsFailedError after storing everything that succeeded (unless
    `raise_on_failure` is off: then the caller reads the failures from the summary).
    """
    proj = load_project(project)
    claims = [proj.claim(claim)] if claim else list(proj.claims)
    store_path = Path(db_path) if db_path else config.db_path()
    when = parse_run_time(run_time)
    reset_sources()  # pick up the current environment (URL, key, mirror path)
    search_source = source_for(source)  # fail fast on configuration before any task runs
    sink = progress.sink()
    if sink:
        sink.started(len(claims))
    plans = plan_search_runs(proj.name, claims, source, store_path, when)
    futures = [search_pubmed.submit(source, plan) for plan in plans]
    results: list[SearchResult | BaseException] = []
    for future in futures:
        try:
            results.append(future.result())
        except Exception as exc:  # one claim's failed search must not stop the others
            results.append(exc)
    searched = [(p, r) for p, r in zip(plans, results, strict=True) if isinstance(r, SearchResult)]
    new_hits, outstanding = record_search_results(proj.name, searched, store_path)
    to_fetch = list(dict.fromkeys(p for pmids in outstanding.values() for p in pmids))
    fetched = fetch_and_store_records(source, to_fetch, store_path, when)
    outcomes = [
        _claim_outcome(
            p, r, new_hits.get(p.claim.id, []), set(outstanding.get(p.claim.id, [])), fetched
        )
        for p, r in zip(plans, results, strict=True)
    ]
    finish_search_runs(outcomes, store_path, when)
    if sink:
        for outcome in outcomes:
            sink.claim_finished(outcome.claim_id, outcome.line())
    stats = getattr(search_source, "stats", None)
    summary = RefreshSummary(
        project=proj.name,
        source=source,
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
