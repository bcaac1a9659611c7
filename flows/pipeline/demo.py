"""`litgrade demo`: the K2 showcase, offline, from the shipped snapshot to the committed reports.

Steps: build a mirror from curated/k2-muscle/snapshot/k2-snapshot.xml, refresh the project from it
into a fresh store, read the committed grades, write the reports. Nothing here reaches the network.

One data folder: the store and the mirror are the ordinary ones (config.db_path(), config.mirror_path():
.data/litgrade.duckdb and .data/mirror.duckdb), so `status`, `serve`, `grade`, `grades export` and
`mirror info` find them with no environment variable. Both are rebuilt from scratch, so a file the demo
did not make (a live NCBI refresh, another project, a real PubMed baseline) is never replaced: the demo
stops with one line saying so. Each file is built beside its target and moved into place only when
complete, so a failed run leaves the previous files whole.

Determinism is the point (a fresh clone must reproduce reports/k2-muscle/ byte for byte):
- search runs are stamped with the mirror's snapshot date, never the clock;
- the mirror and the store are rebuilt from scratch on every run;
- reports are rendered into an empty staging folder, so they never depend on what an earlier run
  left in reports/ (a report compares itself with the previous one it finds beside it), and are then
  copied over, each file atomically, leaving untouched the files whose bytes did not change.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flows import config
from flows.atomic import write_files_atomic
from flows.errors import ConfigError

PROJECT = "k2-muscle"


def snapshot_file() -> Path:
    """The shipped demo snapshot (curated/k2-muscle/snapshot/), found from the working directory."""
    return config.curated_dir() / PROJECT / "snapshot" / "k2-snapshot.xml"


def reports_dir() -> Path:
    """Where the committed showcase reports live."""
    return config.reports_dir(PROJECT)


SNAPSHOT_NOTE = (
    "This evidence rests on an offline snapshot of {n} PubMed records shipped with litgrade "
    "(curated/k2-muscle/snapshot/, with project-written summaries in place of abstracts), "
    "not a live PubMed search."
)
_REPORT_SUFFIXES = frozenset({".html", ".md", ".json"})


@dataclass(frozen=True, slots=True)
class DemoSummary:
    out_dir: Path
    store: Path
    mirror: Path
    snapshot_records: int
    snapshot_date: str
    claims: int
    included: int  # (claim, study) pairs graded "include" that the reports count or list
    ratings: dict[str, int]  # rating label → claims, best rating first
    written: tuple[Path, ...]  # report files whose bytes changed (all of them on a first run)
    removed: tuple[Path, ...]  # stale report files of claims no longer in the project

    def lines(self) -> list[str]:
        tally = ", ".join(f"{n} {label.lower()}" for label, n in self.ratings.items())
        changed = f"{len(self.written)} file(s) changed" if self.written else "no file changed"
        return [
            f"K2 demo: {self.claims} claims of '{PROJECT}' searched in an offline snapshot of "
            f"{self.snapshot_records} PubMed records (snapshot date {self.snapshot_date}), "
            f"not a live PubMed search; {self.included} included (claim, study) grades.",
            f"Ratings: {tally}.",
            f"Reports: {self.out_dir / 'index.html'} (scorecard) and one .html/.md/.json per claim; "
            f"{changed}.",
            f"Store: {self.store} (mirror: {self.mirror}); `litgrade status {PROJECT}`, "
            f"`litgrade serve {PROJECT}` and `litgrade grade {PROJECT} --claim ID --curator ID` use them.",
        ]


def _remove_duckdb(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def _foreign_store_data(store: Path) -> str | None:
    """What in an existing store the demo did not make (None: absent, or only the demo's own runs)."""
    from flows.store.db import connect

    if not store.exists():
        return None
    with connect(store, read_only=True) as con:
        rows = con.execute(
            "SELECT project, source, count(*) FROM search_runs "
            "WHERE NOT (project = ? AND source = 'mirror') GROUP BY ALL ORDER BY ALL",
            [PROJECT],
        ).fetchall()
    if not rows:
        return None
    return ", ".join(f"{n} search run(s) of '{project}' from {source}" for project, source, n in rows)


def _foreign_mirror_data(mirror: Path, snapshot: Path) -> str | None:
    """Files in an existing mirror other than the demo snapshot (None: absent, or the snapshot only)."""
    from flows.pipeline.mirror_ingest import mirror_status

    if not mirror.exists():
        return None
    others = sorted({f.name for f in mirror_status(mirror).files} - {snapshot.name})
    if not others:
        return None
    return f"{len(others)} ingested file(s) besides the snapshot ({', '.join(others[:3])})"


def check_replaceable(store: Path, mirror: Path, snapshot: Path) -> None:
    """Refuse, in one line, to rebuild a store or mirror that holds data the demo did not make."""
    checks = ((store, _foreign_store_data(store)), (mirror, _foreign_mirror_data(mirror, snapshot)))
    for path, foreign in checks:
        if foreign:
            raise ConfigError(
                f"{path} holds data `litgrade demo` did not make ({foreign}); the demo rebuilds its store "
                "and mirror from scratch, so it leaves them alone: run it in a folder of its own with "
                "LITGRADE_DATA=.data/demo litgrade demo (then use the same LITGRADE_DATA for the other "
                "commands), or move the file away"
            )


def sync_reports(staging: Path, out_dir: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Make `out_dir`'s report files equal `staging`'s; returns (files written, stale files removed).

    Only top-level .html/.md/.json files are touched: anything else a person put there stays.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    fresh = {p.name: p for p in staging.iterdir() if p.is_file() and not p.name.startswith(".")}
    changed: dict[Path, str] = {}
    for name in sorted(fresh):
        target = out_dir / name
        if not (target.is_file() and target.read_bytes() == fresh[name].read_bytes()):
            changed[target] = fresh[name].read_text(encoding="utf-8")
    write_files_atomic(changed)
    removed: list[Path] = []
    for old in sorted(out_dir.iterdir()):
        if old.is_file() and old.suffix in _REPORT_SUFFIXES and old.name not in fresh:
            old.unlink()
            removed.append(old)
    return tuple(changed), tuple(removed)


def run_demo(out_dir: Path | None = None, work_dir: Path | None = None) -> DemoSummary:
    """Snapshot → mirror → refresh into a fresh store → committed grades → reports in `out_dir`.

    The store and mirror are the data folder's (config.db_path(), config.mirror_path()), or
    `work_dir`/litgrade.duckdb and `work_dir`/mirror.duckdb when given.
    """
    from flows.evidence.rating import load_rules
    from flows.evidence.retraction_watch import read_csv
    from flows.pipeline.k2_snapshot import retractions_file
    from flows.pipeline.mirror_ingest import ingest_files
    from flows.pipeline.refresh import refresh_flow
    from flows.project.claims import load_project
    from flows.reports.write import write_project_reports
    from flows.sources.spec import MirrorSpec
    from flows.store import retractions
    from flows.store.db import connect, turn_file

    snapshot = snapshot_file()
    out_dir = Path(out_dir) if out_dir else reports_dir()
    if not snapshot.is_file():
        raise ConfigError(
            f"{snapshot} is missing: it ships with litgrade; restore it with "
            "`git checkout -- curated/k2-muscle/snapshot` or rebuild it with "
            "`python -m flows.pipeline.k2_snapshot`"
        )
    project = load_project(PROJECT)
    if work_dir:
        mirror_target, store_target = Path(work_dir) / "mirror.duckdb", Path(work_dir) / "litgrade.duckdb"
    else:
        mirror_target, store_target = config.mirror_path(), config.db_path()
    check_replaceable(store_target, mirror_target, snapshot)
    work = store_target.parent
    for folder in {work, mirror_target.parent}:
        folder.mkdir(parents=True, exist_ok=True)
    # Built under temporary names beside their targets, moved into place once the refresh has ended.
    mirror = mirror_target.with_name(mirror_target.name + ".demo-build")
    store = store_target.with_name(store_target.name + ".demo-build")
    _remove_duckdb(mirror)
    _remove_duckdb(store)

    ingest = ingest_files([snapshot], mirror)
    if ingest.snapshot_date is None:
        raise ConfigError(f"{snapshot}: no record carries a date, so the demo has no snapshot date")
    snapshot_day: dt.date = ingest.snapshot_date
    # The snapshot's records carry years only (its dates are YYYY-01-01 placeholders), so its newest
    # date understates when it was searched: a "2024" record can be from December. The claims were
    # checked against it on the day the article was read (claims.yaml article.date_read, the date of
    # the team's grades), so runs are stamped with that day; the snapshot's own date only if later.
    # Either way "evidence as of" stays a property of the data, never the wall clock.
    read_on = project.article.date_read
    checked_on = dt.date.fromisoformat(read_on) if read_on else snapshot_day
    run_time = dt.datetime.combine(max(snapshot_day, checked_on), dt.time())
    # Search runs get their ids in claim order before any search starts, and each new record is
    # fetched and stored once for all claims, so parallel searches keep the output deterministic.
    refresh_flow(project=str(project.dir), source=MirrorSpec(path=mirror), db_path=store, run_time=run_time)
    # The Retraction Watch-format file shipped beside the snapshot goes in as `litgrade retractions
    # ingest` puts a real one, so the reports name it as the source of what it flags.
    notices_file = retractions_file()
    with connect(store) as con:
        retractions.ingest(con, read_csv(notices_file), notices_file.name, run_time)
    for built, target in ((mirror, mirror_target), (store, store_target)):
        _remove_duckdb(target)
        built.replace(target)
        wal = built.with_name(built.name + ".wal")
        if wal.exists():  # DuckDB checkpoints on close, but a WAL left behind belongs with its file
            wal.replace(target.with_name(target.name + ".wal"))
        turn_file(built).unlink(missing_ok=True)  # the build was this process's alone
    store = store_target

    with tempfile.TemporaryDirectory(prefix="reports-", dir=work) as staging:
        summary = write_project_reports(project, store, Path(staging), snapshot_note=SNAPSHOT_NOTE)
        written, removed = sync_reports(Path(staging), out_dir)

    rules = load_rules()
    ratings: dict[str, int] = {}
    for line in sorted(summary.claims, key=lambda c: rules.rank(c.rating)):
        ratings[line.rating_label] = ratings.get(line.rating_label, 0) + 1
    return DemoSummary(
        out_dir=out_dir,
        store=store_target,
        mirror=mirror_target,
        snapshot_records=ingest.mirror_records,
        snapshot_date=snapshot_day.isoformat(),
        claims=len(summary.claims),
        included=sum(line.included for line in summary.claims),
        ratings=ratings,
        written=written,
        removed=removed,
    )
