"""Issue 9's benchmark: does Prefect's overhead dominate a small living-evidence run?

A no-change run (`living_refresh`: refresh every claim incrementally, re-check the graded studies,
regenerate the reports, write the digest) of a 10-claim project with 5 graded studies, against the
E-utilities stand-in with NCBI's enforced pace (10 requests/s with an API key, 3 without), three ways:

* plain     — the same work with no Prefect at all: the task functions' `.fn` called directly
              (searches on 4 threads, like the flow's task runner);
* ephemeral — the Prefect flow with no PREFECT_API_URL (what `litgrade update` does by default:
              Prefect starts a temporary API inside the process);
* server    — the Prefect flow against a local `prefect server start` (what `litgrade schedule` and
              workers use), NCBI requests paced through the server's global rate limit;
* server-local — the same with LITGRADE_GLOBAL_PACE=off (the in-process limiter only): what the
              cross-process pace itself costs.

Each mode runs in its own child process: one full run stores the records (plain, not timed), then a
"cold" no-change run (the first Prefect call of the process: the ephemeral API starts, the client
connects) and 3 "warm" ones. `litgrade update` from a shell pays the cold figure every time.

Run: .venv/bin/python bench/bench_living.py [--no-key] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SAMPLES = REPO.parent / "shared" / "ncbi-samples"
CLAIMS = 10
GRADED = 5
MODES = ("plain", "ephemeral", "server", "server-local")


# -- child: one mode -------------------------------------------------------------------------------
def write_project(root: Path, pmids_by_query: dict[str, list[str]]) -> Path:
    from flows.curation.events import GradeEvent
    from flows.curation.journal import event_line

    folder = root / "bench-living"
    (folder / "grades").mkdir(parents=True)
    lines = ["article:", '  title: "Living bench"', "reviewers: 1", "claims:"]
    for i, query in enumerate(sorted(pmids_by_query)[:CLAIMS]):
        lines += [f"  - id: claim-{i}", f'    text: "Claim {i}"', f"    query: '{query}'"]
    (folder / "claims.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "curators.yaml").write_text(
        "curators:\n  - {id: alice, name: Alice Ames, role: curator}\n", encoding="utf-8"
    )
    events = []
    for i, query in enumerate(sorted(pmids_by_query)[:GRADED]):
        events.append(
            GradeEvent(
                claim=f"claim-{i}", pmid=pmids_by_query[query][0], curator="alice",
                timestamp="2026-11-24T09:00:00Z", relevance="include", level="rct", direction="supports",
            )
        )
    (folder / "grades" / "alice.jsonl").write_text("".join(event_line(e) for e in events), encoding="utf-8")
    return folder


def plain_run(project: Path, store: Path, out: Path) -> None:
    """living_refresh's work with no Prefect: every task's `.fn`, the searches on 4 threads."""
    from flows.atomic import write_atomic
    from flows.config import eutils_settings
    from flows.pipeline.living import graded_studies, previous_ratings, recheck_graded_studies
    from flows.pipeline.lock import project_lock
    from flows.pipeline.refresh import (
        claim_outcomes,
        fetch_and_store_records,
        finish_search_runs,
        plan_search_runs,
        record_and_close_if_nothing_to_fetch,
        run_stamp,
        search_pubmed,
    )
    from flows.pipeline.sources import reset_sources
    from flows.project.claims import load_project
    from flows.reports.digest import Digest, render_digest
    from flows.reports.write import write_project_reports

    proj = load_project(project)
    when = run_stamp(None)
    spec = eutils_settings()
    reset_sources()
    with project_lock(proj.name):
        previous_ratings(out / "index.json")
        claims_of, finals = graded_studies(proj)
        plans = plan_search_runs.fn(proj.name, list(proj.claims), "eutils", store, when)
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda p: search_pubmed.fn(spec, p), plans))
        recorded = record_and_close_if_nothing_to_fetch.fn(proj.name, plans, results, store, when)
        if recorded.outcomes is None:
            to_fetch = list(dict.fromkeys(p for pmids in recorded.outstanding.values() for p in pmids))
            fetched = fetch_and_store_records.fn(spec, to_fetch, store, when)
            outcomes = claim_outcomes(plans, results, recorded.new_hits, recorded.outstanding, fetched)
            finish_search_runs.fn(outcomes, store, when)
        recheck_graded_studies.fn(proj.name, spec, claims_of, finals, store, when)
        write_project_reports(proj, store, out)
        text = render_digest(Digest(proj.name, when.isoformat(), "eutils"))
        write_atomic(out / "digest" / f"{when.date()}.md", text)


def child(mode: str, runs: int) -> None:
    from flows.config import quiet_prefect_environment

    quiet_prefect_environment()
    tmp = Path(os.environ["LITGRADE_DATA"])
    pmids_by_query = json.loads(os.environ["BENCH_QUERIES"])
    project = write_project(tmp, pmids_by_query)
    store, out = Path(os.environ["LITGRADE_DB"]), tmp / "reports"
    plain_run(project, store, out)  # stores the records: what follows changes nothing

    def once() -> float:
        started = time.perf_counter()
        if mode == "plain":
            plain_run(project, store, out)
        else:
            from flows.pipeline.living import living_refresh

            summary = living_refresh(project=str(project), source="eutils", reports_dir=str(out))
            assert summary.digest.nothing_new, summary.digest
        return time.perf_counter() - started

    cold = once()
    warm = [once() for _ in range(runs)]
    print(json.dumps({"cold": cold, "warm": warm}))


# -- parent: stand-in, server, one child per mode -----------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-key", action="store_true", help="3 requests/s (no NCBI API key)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.runs)
        return

    from tests.living_fixtures import running_prefect_server
    from tests.standin import load_corpus_dir, start_standin

    corpus = load_corpus_dir(SAMPLES)
    queries = {q: e.pmids for q, e in sorted(corpus.queries.items()) if q.startswith("metapub")}
    with tempfile.TemporaryDirectory(prefix="bench-living-") as tmpdir, start_standin(corpus) as standin:
        tmp = Path(tmpdir)
        with running_prefect_server(tmp / "server-home", timeout=120) as api_url:
            results = {}
            for mode in MODES:
                data = tmp / mode
                data.mkdir()
                env = {
                    **os.environ,
                    "LITGRADE_DATA": str(data),
                    "LITGRADE_DB": str(data / "store.duckdb"),
                    "LITGRADE_EUTILS_URL": standin.base_url,
                    "NCBI_EMAIL": "bench@litgrade.invalid",
                    "PREFECT_HOME": str(data / "prefect"),
                    "PREFECT_LOGGING_LEVEL": "ERROR",
                    "BENCH_QUERIES": json.dumps(queries),
                }
                env.pop("PREFECT_API_URL", None)
                env.pop("NCBI_API_KEY", None)
                if not args.no_key:
                    env["NCBI_API_KEY"] = "bench-key"
                if mode.startswith("server"):
                    env["PREFECT_API_URL"] = api_url
                if mode == "server-local":
                    env["LITGRADE_GLOBAL_PACE"] = "off"
                standin.clear_log()
                done = subprocess.run(
                    [sys.executable, __file__, "--child", mode, "--runs", str(args.runs)],
                    env=env, capture_output=True, text=True, timeout=600,
                )
                if done.returncode != 0:
                    raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
                results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
                results[mode]["requests"] = len(standin.entries()) / (args.runs + 2)
                results[mode]["429"] = len(standin.entries(status=429))

    pace = "3 req/s (no key)" if args.no_key else "10 req/s (API key)"
    print(f"no-change living run, {CLAIMS} claims, {GRADED} graded studies, stand-in at {pace}, "
          f"{os.cpu_count()} CPUs, {dt.date.today()}")
    base = statistics.median(results["plain"]["warm"])
    print(f"{'mode':<10} {'warm median s':>14} {'ratio':>7} {'warm min s':>11} {'cold s':>8} "
          f"{'requests/run':>13} {'429s':>5}")
    for mode in MODES:
        r = results[mode]
        med = statistics.median(r["warm"])
        print(f"{mode:<10} {med:>14.2f} {med / base:>6.2f}x {min(r['warm']):>11.2f} {r['cold']:>8.2f} "
              f"{r['requests']:>13.1f} {r['429']:>5}")
    print("ratio = warm median / plain warm median; cold = the first run in a fresh process "
          "(ephemeral: includes starting Prefect's temporary API)")


if __name__ == "__main__":
    main()
