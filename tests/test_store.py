"""The DuckDB store: migrations, idempotent upserts, search runs and hits, and waiting out a lock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.errors import StoreBusyError
from flows.pubmed.records import Article, CommentCorrection, PubDate, PublicationType
from flows.sources.protocol import SearchResult
from flows.store import articles, searches
from flows.store.db import connect, migrations

NOW = dt.datetime(2026, 11, 24, 6, 0)


def article(pmid: str, title: str = "A study") -> Article:
    return Article(
        pmid=pmid,
        title=title,
        pub_date=PubDate(raw="2020 Spring", sort_date="2020-03-01", precision="month"),
        publication_types=(PublicationType("Randomized Controlled Trial", "D016449"),),
    )


def test_migrations_are_versioned_and_applied_once(tmp_db: Path) -> None:
    with connect(tmp_db) as con:
        pass
    with connect(tmp_db) as con:
        applied = con.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert applied == [(v, p.name) for v, p in migrations()]
    assert applied[0] == (1, "001_core.sql")


def test_upsert_is_idempotent_and_replaces_changed_records(tmp_db: Path) -> None:
    with connect(tmp_db) as con:
        first = articles.upsert_articles(con, [article("1"), article("2")], NOW)
        again = articles.upsert_articles(con, [article("1"), article("2")], NOW + dt.timedelta(days=1))
        retracted = dataclasses.replace(
            article("2"), comments_corrections=(CommentCorrection("RetractionIn", "99"),)
        )
        changed = articles.upsert_articles(con, [retracted], NOW + dt.timedelta(days=2))
        rows = con.execute(
            "SELECT pmid, is_retracted, first_seen_at, updated_at, pub_date FROM articles ORDER BY pmid"
        ).fetchall()
        stored = articles.get_articles(con, ["2", "1", "404"])
    assert (first.new, first.changed, first.unchanged) == (2, 0, 0)
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2)
    assert changed.changed_pmids == ("2",)
    assert len(rows) == 2
    assert rows[1][1] is True and rows[1][2] == NOW and rows[1][3] == NOW + dt.timedelta(days=2)
    assert rows[0][4] == dt.date(2020, 3, 1)
    assert list(stored) == ["2", "1"] and stored["2"] == retracted


def test_hits_record_new_pmids_once_and_outstanding_ones(tmp_db: Path) -> None:
    with connect(tmp_db) as con:
        run1 = searches.start_search_run(
            con, project="p", claim_id="c", query="q", query_hash="h", source="eutils",
            mindate=None, maxdate=None, incremental=False, started_at=NOW,
        )
        new1 = searches.record_hits(con, project="p", claim_id="c", run_id=run1, pmids=["1", "2", "2"])
        searches.record_search_result(
            con, run1, SearchResult(count=2, pmids=("1", "2"), errors={"PhraseNotFound": ["x"]}), 2
        )
        articles.upsert_articles(con, [article("1")], NOW)
        outstanding = searches.outstanding_pmids(con, "p", "c")
        searches.finish_search_run(con, run1, status="completed", finished_at=NOW, fetched=1)
        run2 = searches.start_search_run(
            con, project="p", claim_id="c", query="q", query_hash="h", source="eutils",
            mindate="2026/11/17", maxdate="2026/11/25", incremental=True, started_at=NOW,
        )
        new2 = searches.record_hits(con, project="p", claim_id="c", run_id=run2, pmids=["2", "3"])
        runs = searches.search_runs(con, "p", "c")
        last = searches.last_completed_run(con, "p", "c")
        run_hits = con.execute("SELECT count(*) FROM run_hits").fetchone()
    assert new1 == ["1", "2"] and new2 == ["3"]
    assert outstanding == ["2"]
    assert searches.claim_pmids is not None
    assert [r.status for r in runs] == ["completed", "running"]
    assert last is not None and last.run_id == run1 and last.errors == {"PhraseNotFound": ["x"]}
    assert run_hits == (4,)


def test_an_interrupted_run_is_marked_when_the_next_one_starts(tmp_db: Path) -> None:
    with connect(tmp_db) as con:
        kwargs = dict(project="p", claim_id="c", query="q", query_hash="h", source="eutils",
                      mindate=None, maxdate=None, incremental=False, started_at=NOW)
        searches.start_search_run(con, **kwargs)  # type: ignore[arg-type]
        searches.start_search_run(con, **kwargs)  # type: ignore[arg-type]
        statuses = [r.status for r in searches.search_runs(con, "p")]
    assert statuses == ["interrupted", "running"]


HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_connect_waits_for_another_process_then_succeeds(tmp_db: Path) -> None:
    with connect(tmp_db):
        pass
    holder = _hold_lock(tmp_db, 1.0)
    started = time.monotonic()
    with connect(tmp_db, wait_seconds=20) as con:
        assert con.execute("SELECT 1").fetchone() == (1,)
    holder.wait(timeout=10)
    assert time.monotonic() - started >= 0.5


# A refresh-like holder that takes turns through connect: holds the store HOLD s, lets go for GAP s.
TAKES_TURNS = """
import sys, time
from pathlib import Path
from flows.store.db import connect
hold, gap = float(sys.argv[2]), float(sys.argv[3])
for n in range(4):
    with connect(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(hold)
    print(f"released {time.time():.3f}", flush=True)
    time.sleep(gap)
"""


def test_a_waiting_connection_gets_the_first_gap_another_process_leaves(tmp_db: Path) -> None:
    """Between a refresh's batches the store is free for a moment: a waiter must get it then, not
    seconds later (polling duckdb.connect with backoff used to miss such gaps again and again)."""
    with connect(tmp_db):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", TAKES_TURNS, str(tmp_db), "0.8", "0.15"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    try:
        with connect(tmp_db, wait_seconds=20):
            got_it = time.time()
        first_release = float(holder.stdout.readline().split()[1])
        assert first_release <= got_it < first_release + 0.15 + 0.25
    finally:
        holder.kill()
        holder.wait()


def test_a_nested_connection_in_the_same_thread_joins_the_turn(tmp_db: Path) -> None:
    with connect(tmp_db) as outer, connect(tmp_db, wait_seconds=0) as inner:
        assert outer.execute("SELECT 1").fetchone() == (1,)
        assert inner.execute("SELECT 2").fetchone() == (2,)


def test_connect_gives_up_with_a_clear_message(tmp_db: Path) -> None:
    with connect(tmp_db):
        pass
    holder = _hold_lock(tmp_db, 5.0)
    try:
        with pytest.raises(StoreBusyError, match="locked by another process"), connect(tmp_db, wait_seconds=0.5):
            pass
    finally:
        holder.kill()
        holder.wait()
