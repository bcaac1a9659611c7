"""Grading action latency, server-side: POST /claims/C/studies/P/grade with 100,000 articles stored.

Builds two stores in a temp dir (baseline 1,000 articles, target 100,000; synthetic but full-shaped
records bulk-loaded through flows.store.articles.upsert_articles), a claim with HITS search hits in
each, signs a curator in, then times GRADES grading actions through the real ASGI app in-process
(Starlette TestClient: routing, CSRF, JSONL append + fsync, blind/queue rules, next-study render).
Server-side time is the app's own Server-Timing header (middleware to response); the TestClient
round trip is printed beside it. Prints p50/p95/max per store and the 100k/1k ratio, plus a bare
append+fsync reference and the machine's load. Goal: server-side p95 < 100 ms at 100k.

Two loaded cases on the 100k store (issue 17), each p50/p95/max, goal p95 < 100 ms:
- refresh: another process upserts 2,000-record batches into the same store (open, write, close,
  0.2 s pause: a refresh paced by NCBI) the whole time the curator grades;
- journals: 25,000 grade events from 5 curators already in the grade files, and the 5 curators
  grading at once (each append changes a file the other four must see on their next action).
  Measured twice, same files: with the app in the bench's own process (TestClient threads: the five
  clients' CPU shares the server's GIL, which inflates the server-side times) and with the app in
  its own process (uvicorn on 127.0.0.1 as `litgrade serve` runs it, the clients over HTTP), the
  faithful one. `--server` picks one of them.

Run: .venv/bin/python bench/bench_web.py  [--articles 100000] [--grades 200] [--only loaded]
     [--server both|inprocess|process]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
CURATORS = ("alice", "bob", "carol", "dave", "erin")
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
        "  - {id: bench-old, text: 'K2 helps bones', query: 'menaquinone*[tiab] AND bone[tiab]'}\n"
    )
    (project_dir / "curators.yaml").write_text(
        "curators:\n" + "".join(f"  - {{id: {c}, name: {c.title()}, role: curator}}\n" for c in CURATORS)
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
    for curator in CURATORS:
        PasswordStore(root / "data", "bench-web").set_password(curator, "bench-password")
    return WebConfig(load_project(project_dir), db, root / "data")


def signed_in(config: Any, curator: str = "alice", url: str | None = None) -> tuple[Any, dict[str, str], str]:
    """(a client signed in as `curator`, the grading headers, the first study on their queue): a
    TestClient on the app in this process, or over HTTP to the server at `url`."""
    if url is None:
        from starlette.testclient import TestClient

        from flows.web.app import create_app

        # A loopback Host: the app answers no other by default.
        client: Any = TestClient(create_app(config), base_url="http://127.0.0.1")
    else:
        import httpx

        client = httpx.Client(base_url=url, follow_redirects=True, timeout=60)
    token = re.search(r'name="token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"curator": curator, "password": "bench-password", "token": token.group(1)})
    page = client.get("/claims/bench-claim").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    pmid = re.search(r'data-pmid="(\d+)"', page)
    assert csrf and pmid
    return client, {"X-CSRF-Token": csrf.group(1), "HX-Request": "true"}, pmid.group(1)


def time_grades(
    config: Any, grades: int, cold: bool = False, curator: str = "alice", session: Any = None
) -> tuple[list[float], list[float]]:
    """(server-side seconds from the Server-Timing header, round-trip seconds through TestClient)."""
    client, headers, current = session or signed_in(config, curator)
    form = {"relevance": "include", "level": "rct", "direction": "supports"}
    times: list[float] = []
    server: list[float] = []
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


# A refresh-like writer (as tests/test_web_concurrency.py): upsert a batch of new articles, close,
# pause, repeat until told to stop; prints a line per batch.
WRITER = r"""
import datetime as dt, sys, time
from pathlib import Path
from flows.pubmed.records import AbstractSection, Article, Journal, PubDate
from flows.store.articles import upsert_articles
from flows.store.db import connect

db, stop, batch = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
n = 0
while not stop.exists():
    articles = [
        Article(pmid=str(60_000_000 + n * batch + i), title=f"Bulk record {n}-{i} about menaquinone",
                abstract=(AbstractSection(text="Synthetic abstract text " * 20, label="RESULTS"),),
                journal=Journal(title="Bulk"), pub_date=PubDate(raw="2020", sort_date="2020-01-01", precision="year"))
        for i in range(batch)
    ]
    with connect(db) as con:
        upsert_articles(con, articles, dt.datetime(2026, 11, 24, 12))
    n += 1
    print(f"batch {n} at {time.time():.3f}", flush=True)
    time.sleep(0.2)
"""


def time_under_refresh(config: Any, grades: int, batch: int = 2000) -> tuple[list[float], int]:
    """Grading actions while WRITER writes `batch`-record batches into the same store; (server-side
    seconds, batches written while the curator graded)."""
    session = signed_in(config)  # signed in before the writer starts, as a curator already at work
    stop = config.db_path.with_name("stop-writing")
    stop.unlink(missing_ok=True)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(config.db_path), str(stop), str(batch)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert writer.stdout is not None
    assert writer.stdout.readline().startswith("batch 1")
    started = time.time()
    try:
        server, _ = time_grades(config, grades, session=session)
    finally:
        finished = time.time()
        stop.touch()
        out, _ = writer.communicate(timeout=120)
    during = [float(line.split(" at ")[1]) for line in out.splitlines() if " at " in line]
    return server, sum(1 for t in during if started <= t <= finished)


def seed_journals(config: Any, total: int) -> None:
    """`total` grade events spread over the CURATORS' files, on another claim of the project."""
    from flows.curation.events import GradeEvent
    from flows.curation.journal import append_events

    per = total // len(CURATORS)
    for curator in CURATORS:
        append_events(
            config.project.dir,
            [
                GradeEvent(
                    claim="bench-old",
                    pmid=str(40_000_000 + i),
                    curator=curator,
                    timestamp=f"2026-11-20T09:00:00.{i:06d}Z",
                    relevance="include",
                    level="rct",
                    direction="supports",
                )
                for i in range(per)
            ],
        )


# The app served as `litgrade serve` does (flows/cli/web.py: uvicorn.run), in a process of its own;
# prints its port once it listens.
SERVER = r"""
import socket, sys
from pathlib import Path
import uvicorn
from flows.project.claims import load_project
from flows.web.app import create_app
from flows.web.data import WebConfig

project, db, data_dir = (Path(a) for a in sys.argv[1:4])
app = create_app(WebConfig(load_project(project), db, data_dir))
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
config = uvicorn.Config(app, log_level="warning", access_log=False)
print(sock.getsockname()[1], flush=True)
uvicorn.Server(config).run(sockets=[sock])
"""


@contextmanager
def served(config: Any) -> Iterator[str]:
    """The app for `config` in its own process on 127.0.0.1; yields its base URL."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(config.project.dir), str(config.db_path), str(config.data_dir)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert server.stdout is not None
    try:
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        deadline = time.monotonic() + 30
        while True:  # the port is printed before uvicorn listens on it
            try:
                socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def time_many_curators(config: Any, grades: int, url: str | None = None) -> list[float]:
    """Every curator grades `grades` studies at once, each in their own client (threads, as the
    server's thread pool runs them); all their server-side times. With `url`, over HTTP to the
    server there (its own process) instead of the app in this one."""
    sessions = [signed_in(config, c, url) for c in CURATORS]
    results: list[list[float]] = [[] for _ in CURATORS]

    def run(i: int) -> None:
        results[i] = time_grades(config, grades, curator=CURATORS[i], session=sessions[i])[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(CURATORS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [t for r in results for t in r]


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


def report(label: str, times: list[float]) -> float:
    p50, p95, worst = summary(times)
    verdict = "PASS" if p95 < 100 else "FAIL"
    print(f"{label}: {len(times)} grading actions, server-side p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
          f"max {worst:.1f} ms  (goal p95 < 100 ms: {verdict})")  # fmt: skip
    return p95


def loaded(tmp: Path, n: int, grades: int, where: str = "both") -> None:
    root = tmp / f"loaded{n}"
    config = build(root, n)
    print(f"load before the loaded cases: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    quiet, _ = time_grades(config, grades)
    report(f"{n:>7} articles, quiet (baseline of the loaded cases)", quiet)
    server, batches = time_under_refresh(config, grades)
    report(f"{n:>7} articles, a refresh writing 2,000-record batches ({batches} landed meanwhile)", server)
    seed_journals(config, 25_000)
    each = max(20, grades // len(CURATORS))
    label = f"{n:>7} articles, 25,000 grade events from {len(CURATORS)} curators, all {len(CURATORS)} grading"
    if where in ("both", "inprocess"):
        report(f"{label} (app in the bench's process, TestClient threads)", time_many_curators(config, each))
    if where in ("both", "process"):
        with served(config) as url:
            many = time_many_curators(config, each, url)
        report(f"{label} (app in its own process, clients over HTTP)", many)
    print(f"machine load average (1 min) after the loaded cases: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--grades", type=int, default=200)
    parser.add_argument("--only", choices=("quiet", "loaded"), default=None)
    parser.add_argument("--server", choices=("both", "inprocess", "process"), default="both",
                        help="the 5-curator case: app in the bench's process, in its own, or both")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        os.environ["LITGRADE_DATA"] = str(Path(tmp) / "data")
        if args.only != "loaded":
            quiet(Path(tmp), args)
        if args.only != "quiet":
            loaded(Path(tmp), args.articles, args.grades, args.server)


def quiet(tmp: Path, args: argparse.Namespace) -> None:
    results = {}
    for n in (args.baseline, args.articles):
        root = tmp / f"n{n}"
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
    p50, p95, worst = summary(fsync_reference(tmp, args.grades))
    print(
        f"reference: append+fsync of one line alone  p50 {p50:.1f} ms  p95 {p95:.1f} ms  max {worst:.1f} ms"
    )
    print(f"machine load average (1 min) during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    base, big = results[args.baseline], results[args.articles]
    print(f"ratio {args.articles}/{args.baseline}: p50 x{big[0] / base[0]:.2f}  p95 x{big[1] / base[1]:.2f}")
    verdict = "PASS" if big[1] < 100 else "FAIL"
    print(f"goal p95 < 100 ms at {args.articles} articles: {verdict} ({big[1]:.1f} ms)")


if __name__ == "__main__":
    main()
