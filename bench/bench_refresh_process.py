"""Issue 17's whole-process bench: `litgrade refresh` from a shell vs the typical Bio.Entrez script.

One E-utilities stand-in (tests/standin, in this process) with NCBI's limit enforced (3 requests/s, no
API key) and NCBI-like latency (0.3 s per request + 5 ms per EFetch record), one query of 5,000
synthetic records. Each run is a fresh `python` process, timed from spawn to exit:

* typical  — the sequential script most users write: esearch (retmax 5000), efetch in batches of 200
  through Entrez.read, one after another;
* litgrade — `litgrade refresh bench` into a fresh store (search, fetch, parse, store, suggestions);
* one-esearch — a Bio.Entrez script that sends a single ESearch (the floor of any refresh);
* unchanged — `litgrade refresh bench` again, a week later (then daily): an incremental search,
  nothing to fetch; run --unchanged times (5), each beside a fresh one-ESearch script.

Before the timed runs, `litgrade server start` brings up the data folder's local Prefect server and
warm process (what the first command of the day, or of an idle hour, pays once); its wall time is
printed on its own line. A checkout without that command (`--tree` at an older commit) pays
Prefect's ephemeral server inside every run instead. At the end the server is stopped.

Bio.Entrez always calls NCBI's address; the scripts wrap its request builder to send the same request
to the stand-in (as bench/bench_eutils.py does); nothing else about Biopython changes.

Prints records/s of litgrade ÷ typical (goal ≥ 3×), the 429 count of every run (goal 0), and the
unchanged refresh's wall time beside the one-ESearch script's (goal ≤ 2×).

Run: .venv/bin/python bench/bench_refresh_process.py [--records 5000] [--unchanged 5] [--tree CHECKOUT]
(--tree: run `litgrade` from another checkout, e.g. `git worktree add /tmp/before <commit>`, with this
checkout's stand-in and scripts: before and after in one session.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.standin import Corpus, Latency, StandIn, start_standin  # noqa: E402

LIMIT = 3
QUERY = "bench query"
END = dt.date(2026, 11, 20)
FIRST_RUN = "2026-11-20T06:00:00"
SECOND_RUN = "2026-11-27T06:00:00"

SCRIPT_HEAD = """
import sys
from Bio import Entrez
NCBI = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
_build = Entrez._build_request
Entrez._build_request = lambda cgi, *a, **k: _build(cgi.replace(NCBI, sys.argv[1]), *a, **k)
Entrez.email = "bench@litgrade.invalid"
handle = Entrez.esearch(db="pubmed", term=sys.argv[2], retmax=5000)
ids = Entrez.read(handle)["IdList"]
handle.close()
"""
TYPICAL = (
    SCRIPT_HEAD
    + """
fetched = 0
for i in range(0, len(ids), 200):
    handle = Entrez.efetch(db="pubmed", id=",".join(ids[i : i + 200]), retmode="xml")
    fetched += len(Entrez.read(handle)["PubmedArticle"])
    handle.close()
print(fetched)
"""
)
ONE_ESEARCH = SCRIPT_HEAD + "\nprint(len(ids))\n"


def run(server: StandIn, name: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    time.sleep(1.2)  # an empty rate window between runs
    first = len(server.log)
    start = time.perf_counter()
    done = subprocess.run(
        argv, env=env, cwd=env["LITGRADE_HOME"], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    entries = server.log[first:]
    if done.returncode != 0:
        print(f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}", file=sys.stderr)
    return {
        "name": name,
        "wall": wall,
        "requests": len(entries),
        "429s": sum(1 for e in entries if e.status == 429),
        "records": sum(e.records for e in entries if e.tool == "efetch" and e.status == 200),
        "out": done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument(
        "--unchanged", type=int, default=5, metavar="N", help="unchanged-refresh pairs to run (default 5)"
    )
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose litgrade runs")
    args = parser.parse_args()
    tree = args.tree.resolve()
    work = Path(tempfile.mkdtemp(prefix="litgrade-bench-process-"))
    project = work / "curated" / "bench"
    project.mkdir(parents=True)
    (project / "claims.yaml").write_text(
        f"article: {{title: bench}}\nclaims:\n  - id: bench-claim\n    text: bench\n    query: '{QUERY}'\n",
        encoding="utf-8",
    )
    (work / "typical.py").write_text(TYPICAL, encoding="utf-8")
    (work / "one_esearch.py").write_text(ONE_ESEARCH, encoding="utf-8")
    corpus = Corpus()
    corpus.add_synthetic_query(QUERY, args.records, start=dt.date(2016, 1, 1), end=END)
    py = sys.executable
    with start_standin(corpus, limit_without_key=LIMIT, latency=Latency(0.3, 0.005), today=END) as server:
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "LITGRADE_HOME": str(work),
            "LITGRADE_DATA": str(work / ".data"),
            "LITGRADE_EUTILS_URL": server.base_url,
            "NCBI_EMAIL": "bench@litgrade.invalid",
        }
        for key in ("PREFECT_API_URL", "LITGRADE_DB", "LITGRADE_MIRROR", "PREFECT_HOME"):
            env.pop(key, None)
        script = Path(py).parent / "litgrade"  # the command users run (PYTHONPATH picks this checkout)
        launcher = [str(script)] if script.exists() else [py, "-c", "from flows.cli import main; main()"]
        cli = [*launcher, "refresh", "bench"]
        has_server = (tree / "flows" / "cli" / "server.py").exists()
        warmup = (
            run(server, "litgrade server start", [*launcher, "server", "start"], env) if has_server else None
        )

        def entrez_script(name: str, file: str) -> dict[str, Any]:
            return run(server, name, [py, str(work / file), server.base_url, QUERY], env)

        def refresh(name: str, when: dt.datetime) -> dict[str, Any]:
            return run(server, name, [*cli, "--run-time", when.isoformat()], env)

        rows = [
            entrez_script("typical (Bio.Entrez, sequential)", "typical.py"),
            refresh("litgrade refresh", dt.datetime.fromisoformat(FIRST_RUN)),
        ]
        # The unchanged refresh is short (under a second), so one draw of this machine's noise would
        # decide it: it runs --unchanged times, each beside a fresh one-ESearch script, a day apart.
        second = dt.datetime.fromisoformat(SECOND_RUN)
        pairs = [
            (
                entrez_script("one-ESearch Bio.Entrez script", "one_esearch.py"),
                refresh("litgrade refresh, unchanged", second + dt.timedelta(days=i)),
            )
            for i in range(args.unchanged)
        ]
        rows += [row for pair in pairs for row in pair]
        if has_server:
            subprocess.run([*launcher, "server", "stop"], env=env, capture_output=True, check=False)
    typical, first = rows[:2]
    print(f"litgrade from {tree}")
    if warmup is not None:
        print(
            f"once per data folder (and idle hour): local Prefect server + warm process up in {warmup['wall']:.2f} s"
        )
    else:
        print("this checkout has no local server: every litgrade run starts Prefect's ephemeral server")
    print(
        f"stand-in: limit {LIMIT} req/s, latency 0.3 s + 5 ms/record, a {args.records}-record query; "
        "each run a fresh process"
    )
    print(f"{'run':34} {'wall s':>7} {'requests':>8} {'429s':>5} {'records':>7} {'records/s':>9}")
    for r in rows:
        rate = r["records"] / r["wall"] if r["wall"] else 0.0
        print(
            f"{r['name']:34} {r['wall']:7.2f} {r['requests']:8d} {r['429s']:5d} {r['records']:7d} {rate:9.1f}"
        )
    ratio = (first["records"] / first["wall"]) / (typical["records"] / typical["wall"])
    print(f"records/s, litgrade refresh ÷ typical script: {ratio:.2f}× (goal ≥ 3×)")
    print(f"429 answers in all runs: {sum(r['429s'] for r in rows)} (goal 0)")
    ratios = [unchanged["wall"] / one["wall"] for one, unchanged in pairs]
    for i, ((one, unchanged), ratio) in enumerate(zip(pairs, ratios, strict=True), start=1):
        print(
            f"unchanged refresh {unchanged['wall']:.2f} s vs one-ESearch script {one['wall']:.2f} s: "
            f"{ratio:.2f}× (goal ≤ 2×; pair {i}/{len(pairs)})"
        )
    print(f"unchanged refresh ÷ one-ESearch script, worst of {len(pairs)} pairs: {max(ratios):.2f}×")


if __name__ == "__main__":
    main()
