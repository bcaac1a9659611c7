"""Benchmark: build + render + write reports for N claims × 200 graded studies each.

Run: .venv/bin/python bench/bench_report.py [--claims 1000] [--studies 200]
Prints absolute times and the ratio against a 100-claim baseline measured in the same process.
The inputs are built in memory (no store, no grade files): this measures the report layer itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.curation.events import FinalGrade
from flows.curation.ladder import load_ladder
from flows.evidence.rating import load_rules
from flows.project.claims import Claim, SourceArticle
from flows.pubmed.records import Article, Author, Journal, PubDate, PublicationType
from flows.reports.model import ClaimInputs, build_claim_report, build_scorecard
from flows.reports.write import render_all, write_files_atomic
from flows.sources.runs import SearchRun

POOL = 5000


def make_articles(rng: random.Random) -> dict[str, Article]:
    out = {}
    for i in range(POOL):
        pmid = str(30_000_000 + i)
        retracted = (PublicationType("Retracted Publication"),) if i % 97 == 0 else ()
        out[pmid] = Article(
            pmid=pmid,
            title=f"Menaquinone-7 and outcome {i}: a randomised <trial> & follow-up",
            title_html=f"Menaquinone-7 and outcome {i}: a <i>randomised</i> trial &amp; follow-up",
            authors=tuple(Author(last_name=f"Author{j}", initials="AB") for j in range(rng.randint(1, 8))),
            journal=Journal(title="Journal of Nutrition", iso_abbreviation="J Nutr"),
            pub_date=PubDate(raw="2020", sort_date=f"{2000 + i % 25}-01-01", precision="year"),
            doi=f"10.1000/jn.{i}",
            publication_types=retracted,
        )
    return out


def make_inputs(
    n_claims: int, n_studies: int, articles: dict[str, Article], rng: random.Random
) -> list[ClaimInputs]:
    ladder = load_ladder()
    levels = ladder.level_ids
    directions = [d.id for d in ladder.directions]
    pmids = list(articles)
    out = []
    for c in range(n_claims):
        claim = Claim(
            id=f"claim-{c:04d}",
            text=f"Vitamin K2 improves outcome {c}.",
            query=f"menaquinone*[tiab] AND outcome{c}[tiab]",
        )
        hits = rng.sample(pmids, n_studies + 20)
        runs = [
            SearchRun(
                run_id=c * 2 + k + 1,
                project="bench",
                claim_id=claim.id,
                query=claim.query,
                query_hash="h",
                source="eutils",
                source_detail="https://eutils.ncbi.nlm.nih.gov/entrez/eutils/",
                query_translation=f"translated {c}",
                approximation=None,
                result_count=n_studies + 20,
                pmids_found=n_studies + 20,
                new_pmids=10,
                fetched=10,
                mindate=None,
                maxdate=None,
                incremental=bool(k),
                errors={},
                warnings={},
                missing_pmids=(),
                requests=3,
                started_at=dt.datetime(2026, 10 + k, 1, 6),
                finished_at=dt.datetime(2026, 10 + k, 1, 6, 5),
                status="completed",
                error=None,
            )
            for k in range(2)
        ]
        grades = [
            FinalGrade(
                claim=claim.id,
                pmid=p,
                relevance="exclude" if i % 5 == 0 else "include",
                exclude_reason="off_topic" if i % 5 == 0 else None,
                level=None if i % 5 == 0 else rng.choice(levels),
                direction=None if i % 5 == 0 else rng.choice(directions),
                population=rng.randint(10, 5000),
                risk_of_bias="low",
                note="graded in bench",
                quote="“K2 improved the outcome”",
                curators=("alice", "bob"),
                decided_by="agreement",
            )
            for i, p in enumerate(hits[:n_studies])
        ]
        out.append(
            ClaimInputs(
                project="bench",
                article=SourceArticle(title="K2 and muscles", url="https://example.org/k2"),
                claim=claim,
                runs=runs,
                identified={r.run_id: (n_studies + 20) // 2 + 5 for r in runs},
                hits=hits,
                articles=articles,
                final_grades=grades,
            )
        )
    return out


def run(n_claims: int, n_studies: int, articles: dict[str, Article], out_dir: Path) -> dict[str, float]:
    rng = random.Random(n_claims)
    inputs = make_inputs(n_claims, n_studies, articles, rng)
    rules = load_rules()
    c0 = time.process_time()
    t0 = time.perf_counter()
    reports = [build_claim_report(i, rules) for i in inputs]
    scorecard = build_scorecard("bench", inputs[0].article, reports, rules)
    t1 = time.perf_counter()
    files = render_all(reports, scorecard)
    t2 = time.perf_counter()
    write_files_atomic({out_dir / name: text for name, text in files.items()})
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    size = sum(len(t.encode("utf-8")) for t in files.values())
    return {
        "build": t1 - t0,
        "render": t2 - t1,
        "write": t3 - t2,
        "total": t3 - t0,
        "cpu": cpu,
        "files": len(files),
        "mb": size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=1000)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=100)
    args = parser.parse_args()
    articles = make_articles(random.Random(1))
    with tempfile.TemporaryDirectory() as tmp:
        run(10, args.studies, articles, Path(tmp) / "warm")  # templates compiled, caches filled
        base = run(args.baseline, args.studies, articles, Path(tmp) / "base")
        full = run(args.claims, args.studies, articles, Path(tmp) / "full")
    for label, r, n in (("baseline", base, args.baseline), ("full", full, args.claims)):
        print(
            f"{label:8s} {n:5d} claims × {args.studies} studies: total {r['total']:.2f} s "
            f"(build {r['build']:.2f}, render {r['render']:.2f}, write {r['write']:.2f}); CPU {r['cpu']:.2f} s; "
            f"{r['files']:.0f} files, {r['mb']:.1f} MB; {1000 * r['total'] / n:.1f} ms/claim"
        )
    print(
        f"load average while running: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores "
        "(wall time counts other processes' contention; CPU time does not)"
    )
    ratio = full["total"] / base["total"]
    cpu_ratio = full["cpu"] / base["cpu"]
    scale = args.claims / args.baseline
    print(
        f"ratio full/baseline: wall {ratio:.2f}×, CPU {cpu_ratio:.2f}× for {scale:.0f}× claims "
        f"(per-claim CPU cost ratio {cpu_ratio / scale:.2f})"
    )
    print(
        f"goal < 60 s: wall {full['total']:.1f} s {'met' if full['total'] < 60 else 'MISSED'}; "
        f"CPU {full['cpu']:.1f} s {'met' if full['cpu'] < 60 else 'MISSED'}"
    )

if __name__ == "__main__":
    main()
