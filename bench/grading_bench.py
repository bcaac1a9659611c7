"""How fast grade files are read and turned into final grades, as ratios against plain json.loads.

Run: .venv/bin/python bench/grading_bench.py [EVENTS]   (default 20000 events, two curators)
The web app re-reads every grade file on each request, so read_events is on its hot path.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.curation import grade_check
from flows.curation import journal as grades_file
from flows.curation.events import GradeEvent
from flows.curation.journal import append_events, grades_path, read_events
from flows.curation.review import agreement, final_grades, grading_status
from flows.project.claims import load_project

CLAIMS = "article: {title: bench}\nreviewers: 2\nclaims:\n" + "".join(
    f"  - {{id: c{i}, text: claim {i}, query: q{i}}}\n" for i in range(10)
)
CURATORS = "curators:\n  - {id: alice, name: A, role: curator}\n  - {id: bob, name: B, role: curator}\n"
LEVELS = ("rct", "animal", "human_observational", "systematic_review")


def timed(label: str, fn: object, baseline: float | None = None, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    ratio = f"{best / baseline:7.3f}x" if baseline else "  1.000x (baseline)"
    print(f"{label:<44} {best * 1000:9.1f} ms  {ratio}")
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bench"
        folder.mkdir()
        (folder / "claims.yaml").write_text(CLAIMS, encoding="utf-8")
        (folder / "curators.yaml").write_text(CURATORS, encoding="utf-8")
        project = load_project(folder)
        events = [
            GradeEvent(
                claim=f"c{i % 10}", pmid=str(1_000_000 + i // 2), curator=("alice", "bob")[i % 2],
                timestamp=f"2026-11-24T09:{(i // 60) % 60:02d}:{i % 60:02d}Z", relevance="include",
                level=LEVELS[(i * 7) % 4] if i % 5 else "rct", direction="supports",
            )
            for i in range(n)
        ]
        append_events(folder, events)
        paths = [grades_path(folder, c) for c in ("alice", "bob")]
        hits = {f"c{i}": [str(1_000_000 + j) for j in range(n // 2) if (2 * j) % 10 == i] for i in range(10)}
        print(f"{n} events in 2 files, {sum(p.stat().st_size for p in paths) / 1e6:.1f} MB")
        base = timed("json.loads every line (baseline)",
                     lambda: [json.loads(x) for p in paths for x in p.read_bytes().splitlines()])
        def cold() -> None:
            grades_file._CACHE.clear()
            read_events(folder)

        timed("jsonschema is_valid on every line (before)",
              lambda: [grade_check.validator().is_valid(json.loads(x))
                       for p in paths for x in p.read_bytes().splitlines()], base, repeat=1)
        timed("read_events, cold (every line validated)", cold, base)
        timed("read_events, warm (files unchanged)", lambda: read_events(folder), base)
        loaded = read_events(folder)
        timed("final_grades", lambda: final_grades(project, loaded), base)
        timed("grading_status (all claims)", lambda: grading_status(project, loaded, hits), base)
        timed("agreement (kappa per claim + overall)", lambda: agreement(project, loaded), base)
        start = time.perf_counter()
        append_events(folder, events[:1])
        print(f"{'one append_event (fsync)':<44} {(time.perf_counter() - start) * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
