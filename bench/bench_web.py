"""Grading action latency, server-side: POST /claims/C/studies/P/grade with 100,000 articles stored.

Builds two stores in a temp dir (baseline 1,000 articles, target 100,000; synthetic but full-shaped
records bulk-loaded through flows.store.articles.upsert_articles), a claim with HITS search hits in
each, signs a curator in, then times GRADES grading actions through the real ASGI app in-process
(Starlette TestClient: routing, CSRF, JSONL append + fsync, blind/queue rules, next-study render).
Server-side time is the app's own Server-Timing header (middleware to response); the TestClient
round trip is printed beside it. Prints p50/p95/max per store and the 100k/1k ratio, plus a bare
append+fsync reference and the machine's load. Goal: server-side p95 < 100 ms at 100k.

Run: .venv/bin/python bench/bench_web.py  [--articles 100000] [--grades 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.pubmed.records import (  # noqa: E402
    AbstractSection,
    Article,
    Author,
    Journal,
    MeshHeading,
    PubDate,
    PublicationType,
)

HITS = 1000
WORDS = ("vitamin", "menaquinone", "muscle", "cramp", "bone", "density", "trial", "placebo", "cohort",
         "calcification", "arterial")  # fmt: skip


def synthetic(i: int) -> Article:
    w = [WORDS[(i * k) % len(WORDS)] for k in range(1, 9)]
    return Article(
        pmid=str(30_000_000 + i),
        title=f"{w[0].title()} and {w[1]} in {w[2]}: study {i}",
        abstract=tuple(
            AbstractSection(text=f"{label.title()} text {i}: " + " ".join(w * 6), label=label)
            for label in ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS")
        ),
        authors=tuple(Author(last_name=f"Author{i % 97}{k}", initials="AB") for k in range(6)),
        journal=Journal(title="Journal of Synthetic Evidence", iso_abbreviation="J Synth Evid"),
        pub_date=PubDate(raw=str(1990 + i % 35), sort_date=f"{1990 + i % 35}-01-01", precision="year"),
        publication_types=(
            PublicationType("Journal Article"),
            PublicationType("Randomized Controlled Trial"),
        ),
        mesh=tuple(MeshHeading(d) for d in ("Humans", "Vitamin K 2", "Muscle, Skeletal")),
        languages=("eng",),
    )


def build(root: Path, n_articles: int) -> Any:
    from flows.project.claims import load_project
    from flows.store.articles import upsert_articles
    from flows.store.db import connect
    from flows.store.searches import finish_search_run, record_hits, start_search_run
    from flows.web.auth import PasswordStore
    from flows.web.data import WebConfig

    project_dir = root / "bench-web"
    project_dir.mkdir(parents=True)
    (project_dir / "claims.yaml").write_text(
        "article: {title: Bench}\nreviewers: 2\nclaims:\n"
        "  - {id: bench-claim, text: 'K2 helps muscles', query: 'menaquinone*[tiab] AND muscle[tiab]'}\n"
    )
    (project_dir / "curators.yaml").write_text(
        "curators:\n  - {id: alice, name: Alice, role: curator}\n  - {id: bob, name: Bob, role: curator}\n"
    )
    db = root / "store.duckdb"
    now = dt.datetime(2026, 11, 24, 9)
    with connect(db) as con:
        for start in range(0, n_articles, 10_000):
            upsert_articles(con, [synthetic(i) for i in range(start, min(start + 10_000, n_articles))], now)
        run = start_search_run(
            con, project="bench-web", claim_id="bench-claim", query="q", query_hash="h", source="eutils",
            mindate=None, maxdate=None, incremental=False, started_at=now,
        )  # fmt: skip
        step = max(1, n_articles // HITS)
        hits = [str(30_000_000 + i) for i in range(0, n_articles, step)][:HITS]
        record_hits(con, project="bench-web", claim_id="bench-claim", run_id=run, pmids=hits)
        finish_search_run(con, run, status="completed", finished_at=now)
    PasswordStore(root / "data", "bench-web").set_password("alice", "bench-password")
    return WebConfig(load_project(project_dir), db, root / "data")


def time_grades(config: Any, grades: int, cold: bool = False) -> tuple[list[float], list[float]]:
    """(server-side seconds from the Server-Timing header, round-trip seconds through TestClient)."""
    from starlette.testclient import TestClient

    from flows.web.app import create_app

    # A loopback Host: the app answers no other by default.
    client = TestClient(create_app(config), base_url="http://127.0.0.1")
    token = re.search(r'name="token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"curator": "alice", "password": "bench-password", "token": token.group(1)})
    page = client.get("/claims/bench-claim").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    pmid = re.search(r'data-pmid="(\d+)"', page)
    assert csrf and pmid
    headers = {"X-CSRF-Token": csrf.group(1), "HX-Request": "true"}
    form = {"relevance": "include", "level": "rct", "direction": "supports"}
    times: list[float] = []
    server: list[float] = []
    current = pmid.group(1)
    for i in range(grades + 5):
        if cold:  # as right after a refresh wrote: the action must open the store and read afresh
            config.cache.store_key = None
        start = time.perf_counter()
        response = client.post(f"/claims/bench-claim/studies/{current}/grade", data=form, headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.text[:500]
        if i >= 5:  # first requests warm caches (templates, ladder, schema)
            times.append(elapsed)
            timing = re.search(r"dur=([0-9.]+)", response.headers["Server-Timing"])
            assert timing
            server.append(float(timing.group(1)) / 1000)
        nxt = re.search(r'data-pmid="(\d+)"', response.text)
        assert nxt and nxt.group(1) != current
        current = nxt.group(1)
    return server, times


def fsync_reference(root: Path, n: int) -> list[float]:
    """The floor every grading action pays: append one JSONL line and fsync it (same disk)."""
    path = root / "fsync-probe.jsonl"
    times = []
    with path.open("ab") as handle:
        for i in range(n):
            start = time.perf_counter()
            handle.write(b'{"probe": %d}\n' % i)
            handle.flush()
            os.fsync(handle.fileno())
            times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> tuple[float, float, float]:
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18]
    return statistics.median(times) * 1000, p95 * 1000, max(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--grades", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        os.environ["LITGRADE_DATA"] = str(Path(tmp) / "data")
        results = {}
        for n in (args.baseline, args.articles):
            root = Path(tmp) / f"n{n}"
            t0 = time.perf_counter()
            config = build(root, n)
            built = time.perf_counter() - t0
            server, round_trip = time_grades(config, args.grades)
            results[n] = summary(server)
            p50, p95, worst = results[n]
            rt50, rt95, _ = summary(round_trip)
            print(
                f"{n:>7} articles ({min(HITS, n)} claim hits; store built in {built:.1f} s): "
                f"{len(server)} grading actions, server-side p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
                f"max {worst:.1f} ms  (round trip via TestClient p50 {rt50:.1f}  p95 {rt95:.1f} ms)"
            )
        cold, _ = time_grades(config, min(args.grades, 100), cold=True)
        c50, c95, cmax = summary(cold)
        print(
            f"{args.articles:>7} articles, cold store cache on EVERY action (worst case: as the first action "
            "after a refresh wrote, each also starting a background warm-up): "
            f"server-side p50 {c50:.1f} ms  p95 {c95:.1f} ms  max {cmax:.1f} ms"
        )
        p50, p95, worst = summary(fsync_reference(Path(tmp), args.grades))
        print(
            f"reference: append+fsync of one line alone  p50 {p50:.1f} ms  p95 {p95:.1f} ms  max {worst:.1f} ms"
        )
        print(
            f"machine load average (1 min) during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        base, big = results[args.baseline], results[args.articles]
        print(
            f"ratio {args.articles}/{args.baseline}: p50 x{big[0] / base[0]:.2f}  p95 x{big[1] / base[1]:.2f}"
        )
        verdict = "PASS" if big[1] < 100 else "FAIL"
        print(f"goal p95 < 100 ms at {args.articles} articles: {verdict} ({big[1]:.1f} ms)")


if __name__ == "__main__":
    main()
