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

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import config, progress
from flows.claims import Claim, load_project
from flows.errors import ConfigError, InputError, LitgradeError, StoreBusyError
from flows.refresh_plan import SearchWindow, plan_window, query_hash, run_status
from flows.sources import SearchResult, SearchSource
from flows.store import articles as article_store
from flows.store import searches
from flows.store.db import connect

MAX_PARALLEL_CLAIMS = 4


class ClaimsFailedError(LitgradeError):
    """Some claims' refresh failed; the others were stored. The next refresh retries them."""

    exit_code = 1


@dataclass
class FetchOutcome:
    fetched: int = 0
    new_articles: int = 0
    changed_articles: int = 0
    missing: list[str] = field(default_factory=list)
    failed_batches: int = 0
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


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
        notes = {**self.errors, **self.warnings}
        if notes:
            text += " — NCBI: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(notes.items()))
        return text


@dataclass
class RefreshSummary:
    project: str
    source: str
    run_time: str
    claims: list[ClaimOutcome]
    requests: int | None = None

    @property
    def failed(self) -> list[ClaimOutcome]:
        return [c for c in self.claims if c.status == "failed"]

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
        from flows.eutils import EutilsClient

        return EutilsClient(config.eutils_settings())
    if kind == "mirror":
        from flows.mirror import MirrorSource

        path = config.mirror_path()
        if not path.exists():
            raise ConfigError(
                f"no mirror at {path}: build one with `litgrade mirror ingest FILE...` "
                "or set LITGRADE_MIRROR"
            )
        return MirrorSource(path)
    raise InputError(f"unknown source '{kind}': use 'eutils' or 'mirror'")


def _store_busy(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except StoreBusyError:
        return True
    except Exception:
        return False
    return False


@task(name="search-pubmed", cache_policy=NONE)
def search_pubmed(source: SearchSource, query: str, window: SearchWindow) -> SearchResult:
    return source.search(query, mindate=window.mindate, maxdate=window.maxdate)


def _save_suggestions(con: Any, stored: Sequence[Any], now: dt.datetime) -> None:
    try:
        from flows.store.suggestions import save_suggestions
        from flows.suggest import suggest
    except ImportError:  # the suggester is optional until it lands
        return
    save_suggestions(con, [(a, suggest(a)) for a in stored], now)


@task(
    name="fetch-and-store-records",
    cache_policy=NONE,
    retries=3,
    retry_delay_seconds=2,
    retry_condition_fn=_store_busy,
)
def fetch_and_store_records(
    source: SearchSource, pmids: Sequence[str], db_path: Path, now: dt.datetime, claim_id: str = ""
) -> FetchOutcome:
    outcome = FetchOutcome()
    if not pmids:
        return outcome
    sink = progress.sink()
    for batch in source.fetch(list(pmids)):
        if batch.failed:
            outcome.failed_batches += 1
            outcome.errors.append(batch.error or "batch failed")
        outcome.missing.extend(batch.missing)
        outcome.problems.extend(f"{p.pmid or '?'}: {p.reason}" for p in batch.problems)
        if batch.articles:
            with connect(db_path) as con:
                counts = article_store.upsert_articles(con, batch.articles, now)
                _save_suggestions(con, batch.articles, now)
            outcome.fetched += len(batch.articles)
            outcome.new_articles += counts.new
            outcome.changed_articles += counts.changed
            if sink:
                sink.records_fetched(claim_id, len(batch.articles))
    return outcome


@task(name="refresh-claim", task_run_name="refresh-claim {claim.id}", cache_policy=NONE)
def refresh_claim(
    project: str, claim: Claim, source_kind: str, db_path: Path, run_time: dt.datetime
) -> ClaimOutcome:
    source = source_for(source_kind)
    with connect(db_path) as con:
        last = searches.last_completed_run(con, project, claim.id)
        window = plan_window(
            query=claim.query,
            source=source.name,
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
            source=source.name,
            mindate=window.mindate,
            maxdate=window.maxdate,
            incremental=window.incremental,
            started_at=run_time,
        )
    outcome = ClaimOutcome(claim.id, "failed", run_id=run_id, incremental=window.incremental)
    try:
        result = search_pubmed(source, claim.query, window)
        with connect(db_path) as con:
            outcome.new_hits = searches.record_hits(
                con, project=project, claim_id=claim.id, run_id=run_id, pmids=result.pmids
            )
            searches.record_search_result(con, run_id, result, len(outcome.new_hits))
            to_fetch = searches.outstanding_pmids(con, project, claim.id)
        outcome.found, outcome.errors, outcome.warnings = len(result.pmids), result.errors, result.warnings
        fetched = fetch_and_store_records(source, to_fetch, db_path, run_time, claim.id)
        outcome.fetched, outcome.missing = fetched.fetched, sorted(set(fetched.missing))
        outcome.status = run_status(failed_batches=fetched.failed_batches)
        error = "; ".join(fetched.errors) or None
        with connect(db_path) as con:
            searches.finish_search_run(
                con,
                run_id,
                status=outcome.status,
                finished_at=run_time,
                fetched=fetched.fetched,
                missing_pmids=outcome.missing,
                requests=result.requests,
                error=error,
            )
        outcome.error = error
    except Exception as exc:  # one claim's failure must not stop the others
        outcome.status, outcome.error = "failed", str(exc) or type(exc).__name__
        with connect(db_path) as con:
            searches.finish_search_run(
                con, run_id, status="failed", finished_at=run_time, error=outcome.error
            )
    sink = progress.sink()
    if sink:
        sink.claim_finished(claim.id, outcome.line())
    return outcome


def _parse_run_time(run_time: str | None) -> dt.datetime:
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
) -> RefreshSummary:
    """Refresh a project's claims (all, or one) from `source` into the store at `db_path`.

    `run_time` (ISO) stamps the search runs; the demo passes its snapshot date so output is
    deterministic. Raises ClaimsFailedError after storing everything that succeeded.
    """
    proj = load_project(project)
    claims = [proj.claim(claim)] if claim else list(proj.claims)
    store_path = Path(db_path) if db_path else config.db_path()
    when = _parse_run_time(run_time)
    reset_sources()  # pick up the current environment (URL, key, mirror path)
    search_source = source_for(source)  # fail fast on configuration before any task runs
    sink = progress.sink()
    futures = []
    for index, item in enumerate(claims):
        if sink:
            sink.claim_started(item.id, index, len(claims))
        futures.append(refresh_claim.submit(proj.name, item, source, store_path, when))
    outcomes = [f.result() for f in futures]
    stats = getattr(search_source, "stats", None)
    summary = RefreshSummary(
        project=proj.name,
        source=source,
        run_time=when.isoformat(),
        claims=outcomes,
        requests=getattr(stats, "requests", None),
    )
    create_markdown_artifact(
        markdown=summary.markdown(), key=f"refresh-{proj.name}", description="New records per claim"
    )
    if summary.failed:
        raise ClaimsFailedError(
            f"{len(summary.failed)} of {len(outcomes)} claims failed: "
            + "; ".join(f"{c.claim_id} ({c.error})" for c in summary.failed)
            + " — the others were stored; the next refresh retries the failed ones"
        )
    return summary
