"""Benchmark: build + render + write reports for N claims × 200 graded studies each (issue 17).

Run: .venv/bin/python bench/bench_report.py [--claims 1000] [--studies 200] [--workers 2] [--changed 0.05]
Four runs in one process, each building every claim's report data: a cold render of every claim in
one process (what `litgrade report` did before), the same in worker processes, then the next run with
nothing changed, and one with a share of the claims changed (only those are rendered again: the rest
are recognised by their JSON in the render state). Ratios are against the cold single-process run.
The inputs are built in memory (no store, no grade files): this measures the report layer itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.curation.events import FinalGrade
from flows.curation.ladder import load_ladder
from flows.evidence.rating import load_rules
from flows.project.claims import Claim, SourceArticle
from flows.pubmed.records import Article, Author, Journal, PubDate, PublicationType
from flows.reports.model import ClaimInputs, build_claim_report, build_scorecard
from flows.reports.write import write_changed
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


def _build(inputs: list[ClaimInputs], rules: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    reports = [build_claim_report(i, rules) for i in inputs]
    return reports, build_scorecard("bench", inputs[0].article, reports, rules)


def _children_cpu() -> float:
    """CPU seconds of this process's children and theirs (Linux /proc): the forkserver outlives the
    pool, and its reaped workers' CPU is in its cutime/cstime (RUSAGE_CHILDREN would miss them)."""
    total = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = total.ru_utime + total.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/self/task/{os.getpid()}/children").read_text().split()
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds += sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick  # utime stime cutime cstime
    except (OSError, ValueError, IndexError):
        pass
    return seconds


def _fresh_records(inputs: list[ClaimInputs]) -> list[ClaimInputs]:
    """The same records as new objects, as a `litgrade report` reads them from the store each run:
    nothing memoised per record object in an earlier run counts for this one."""
    articles = {pmid: dataclasses.replace(a) for pmid, a in inputs[0].articles.items()}
    return [dataclasses.replace(i, articles=articles) for i in inputs]


def _timed(label: str, inputs: list[ClaimInputs], out_dir: Path, workers: int | None) -> dict[str, Any]:
    """One `litgrade report` of the report layer: build every claim's data, then render what changed
    and write it (one step: files are staged as they are rendered, in worker processes if any)."""
    rules = load_rules()
    inputs = _fresh_records(inputs)
    c0, k0, t0 = time.process_time(), _children_cpu(), time.perf_counter()
    reports, scorecard = _build(inputs, rules)
    t1 = time.perf_counter()
    written, skipped = write_changed(reports, scorecard, out_dir, workers=workers)
    t2 = time.perf_counter()
    return {
        "label": label, "build": t1 - t0, "render": t2 - t1, "total": t2 - t0,
        "cpu": time.process_time() - c0, "workers_cpu": _children_cpu() - k0, "files": len(written),
        "skipped": skipped, "reports": reports, "load": os.getloadavg()[0],
    }  # fmt: skip


def _changed(inputs: list[ClaimInputs], reports: list[dict[str, Any]], share: float) -> list[ClaimInputs]:
    """The same claims a run later: each remembers its previous report; `share` of them have one grade
    changed (its direction flipped), as after a day of grading."""
    step = max(1, round(1 / share)) if share else 0
    out = []
    for n, (inp, previous) in enumerate(zip(inputs, reports, strict=True)):
        grades = list(inp.final_grades)
        if step and n % step == 0:
            g = next(g for g in grades if g.relevance == "include")
            flipped = "contradicts" if g.direction != "contradicts" else "supports"
            grades[grades.index(g)] = dataclasses.replace(g, direction=flipped)
        out.append(dataclasses.replace(inp, final_grades=grades, previous=previous))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=1000)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument(
        "--workers", type=int, default=2, help="processes for a second cold render (1: only the serial one)"
    )
    parser.add_argument("--changed", type=float, default=0.05, help="share of claims changed between runs")
    args = parser.parse_args()
    articles = make_articles(random.Random(1))
    inputs = make_inputs(args.claims, args.studies, articles, random.Random(args.claims))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm-up"
        _timed("warm-up", inputs[:10], warm, 1)  # templates compiled, caches filled
        out = Path(tmp) / "reports"
        if args.workers > 1:
            serial = Path(tmp) / "serial"
            rows.append(_timed("cold, every claim rendered, 1 process (as before)", inputs, serial, 1))
            label = f"cold, every claim rendered, {args.workers} processes"
        else:
            label = "cold, every claim rendered, 1 process (as before)"
        rows.append(_timed(label, inputs, out, args.workers))
        later = _changed(inputs, rows[-1]["reports"], 0.0)
        rows.append(_timed("next run, nothing changed", later, out, None))
        later = _changed(inputs, rows[-1]["reports"], args.changed)
        rows.append(_timed(f"next run, {args.changed:.0%} of claims changed", later, out, None))
    for r in rows:
        print(
            f"{r['label']:48s} {args.claims} claims × {args.studies}: wall {r['total']:6.1f} s (build {r['build']:.1f}, "
            f"render + write {r['render']:.1f}); CPU {r['cpu']:.1f} s here + {r['workers_cpu']:.1f} s in workers; "
            f"{r['files']} files written, {r['skipped']} claims skipped; load {r['load']:.1f}"
        )
    print(
        f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores "
        "(wall time counts other processes' contention)"
    )
    base = rows[0]["total"]
    for r in rows[1:]:
        print(f"{r['label']:48s} {base / r['total']:.2f}× faster than the cold single-process render")
    typical = rows[-1]["total"]
    print(f"goal < 60 s for {args.claims} claims × {args.studies} (a run after changes): wall {typical:.1f} s "
          f"{'met' if typical < 60 else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
