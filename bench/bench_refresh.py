"""The refresh flow's request economy (issue 4): a first refresh vs a second, unchanged one.

Projects against the E-utilities stand-in with NCBI's enforced limit (3 requests/s) and a
latency model (0.3 s per request + 5 ms per record); each claim's query matches 500 synthetic
records (5,000 in all), and issue 4's own case: one claim whose query matches 5,000. Both runs go through the real `refresh` Prefect flow (ephemeral API) in this
process; the stand-in's log counts what was sent. Goal: the second run ≥ 20× cheaper in requests.

Run: .venv/bin/python bench/bench_refresh.py
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCENARIOS = ((1, 5000), (10, 500))  # (claims, records per claim): issue 4's 5,000-record query, then spread


def scenario(work: Path, claims: int, per_claim: int) -> None:
    from flows.pipeline.refresh import refresh_flow
    from tests.standin import Corpus, Latency, start_standin

    corpus = Corpus()
    project = work / f"bench-{claims}"
    project.mkdir()
    lines = ["article: {title: bench}", "claims:"]
    for i in range(claims):
        term = f"claim{i}[tiab]"
        corpus.add_synthetic_query(term, per_claim, first_pmid=60_000_000 + claims * 100_000 + i * per_claim)
        lines += [f"  - id: claim-{i}", f"    text: claim {i}", f"    query: '{term}'"]
    (project / "claims.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.environ["LITGRADE_DB"] = str(work / f"store-{claims}.duckdb")
    with start_standin(
        corpus, limit_without_key=3, latency=Latency(0.3, 0.005), today=dt.date(2026, 11, 24)
    ) as standin:
        os.environ["LITGRADE_EUTILS_URL"] = standin.base_url
        rows = []
        for label, run_time in (("first", "2026-11-24T06:00:00"), ("second (unchanged)", "2026-12-01T06:00:00")):
            standin.clear_log()
            started = time.perf_counter()
            summary = refresh_flow(project=str(project), source="eutils", run_time=run_time)
            wall = time.perf_counter() - started
            fetched = sum(c.fetched for c in summary.claims)
            rows.append(
                (label, len(standin.entries()), len(standin.entries(status=429)), fetched, wall,
                 standin.max_in_window(1.0))
            )
    print(f"\n{claims} claim(s) × {per_claim} records; stand-in limit 3/s, latency 0.3 s + 5 ms/record")
    print(f"{'run':<20}{'requests':>9}{'429s':>6}{'fetched':>9}{'wall s':>9}{'max/1s':>8}")
    for label, requests, throttled, got, wall, peak in rows:
        print(f"{label:<20}{requests:>9}{throttled:>6}{got:>9}{wall:>9.1f}{peak:>8}")
    ratio = rows[0][1] / max(rows[1][1], 1)
    print(f"second run is {ratio:.1f}× cheaper in requests (goal ≥ 20× on the single 5,000-record query)")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="litgrade-bench-refresh-"))
    os.environ.update(LITGRADE_DATA=str(work), NCBI_EMAIL="bench@litgrade.invalid")
    from flows.config import quiet_prefect_environment

    quiet_prefect_environment()
    for claims, per_claim in SCENARIOS:
        scenario(work, claims, per_claim)


if __name__ == "__main__":
    main()
