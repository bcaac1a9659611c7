"""`litgrade mirror ingest|search|info`: build and query the local PubMed mirror (LITGRADE_MIRROR)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows import config

if TYPE_CHECKING:
    from flows.pipeline.mirror_ingest import IngestProgress

mirror_app = typer.Typer(
    name="mirror",
    help=(
        "A local PubMed mirror: load PubMed XML (baseline/update files or saved EFetch output) and "
        "search it offline with PubMed query syntax. The file is LITGRADE_MIRROR "
        "(default .data/mirror.duckdb); `litgrade refresh PROJECT --source mirror` searches it."
    ),
    no_args_is_help=True,
)

# Worker processes cost about a second to start: only worth it once there is real parsing to share.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024

MirrorOption = Annotated[
    Path | None,
    typer.Option("--mirror", help="Mirror file to use instead of LITGRADE_MIRROR.", show_default=False),
]


def _mirror_path(option: Path | None) -> Path:
    return option.resolve() if option else config.mirror_path()


def _auto_workers(files: list[Path]) -> int:
    total = sum(f.stat().st_size for f in files if f.is_file())
    return min(4, os.cpu_count() or 1) if len(files) > 1 and total >= PARALLEL_MIN_BYTES else 1


@mirror_app.command("ingest")
def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="PubMed XML files, plain or .gz, applied in this order.")
    ],
    mirror: MirrorOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-apply files already ingested (same checksum).")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Parse this many files at once in worker processes (files still apply in order). "
            "Default: up to 4 (one per CPU) when the files add up to 32 MB or more, else 1.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Load PubMed XML files into the mirror: newer copies replace older ones, DeleteCitation removes.

    Files are applied in the order given, each in one transaction; a file already ingested is
    skipped. Prints progress, records/s and the deletions applied.

    Examples:

      litgrade mirror ingest pubmed26n0001.xml.gz pubmed26n0002.xml.gz

      litgrade mirror ingest --mirror ~/pubmed/mirror.duckdb --workers 2 updates/*.xml.gz
    """
    from flows.pipeline.mirror_ingest import ingest_files

    tty = sys.stderr.isatty()

    def progress(p: IngestProgress) -> None:
        rate = p.records / p.seconds if p.seconds > 0 else 0.0
        line = f"{Path(p.path).name}: {p.records} records ({rate:,.0f} records/s)"
        if tty:
            sys.stderr.write(f"\r\x1b[2K{line}")
            sys.stderr.flush()

    path = _mirror_path(mirror)
    try:
        summary = ingest_files(
            files, path, progress=progress, force=force, workers=workers or _auto_workers(files)
        )
    finally:
        if tty:
            sys.stderr.write("\r\x1b[2K")
    for f in summary.files:
        name = Path(f.path).name
        if f.skipped:
            typer.echo(f"{name}: already ingested (sha256 {f.sha256[:12]}), skipped; --force re-applies it")
            continue
        rate = f.records / f.seconds if f.seconds > 0 else 0.0
        typer.echo(
            f"{name}: {f.records} records ({f.new} new, {f.replaced} replaced"
            + (f", {f.older_ignored} older versions ignored" if f.older_ignored else "")
            + f"), {f.deletions_applied} of {f.deletions_requested} deletions applied, "
            f"{len(f.problems)} problems, {f.seconds:.1f} s ({rate:,.0f} records/s)"
        )
        for problem in f.problems[:5]:
            typer.echo(f"  problem: PMID {problem.pmid or '?'}: {problem.reason}")
        if len(f.problems) > 5:
            typer.echo(f"  ... and {len(f.problems) - 5} more problems")
    snapshot = summary.snapshot_date.isoformat() if summary.snapshot_date else "unknown"
    typer.echo(
        f"ingested {summary.records} records in {summary.seconds:.1f} s "
        f"({summary.records_per_second:,.0f} records/s), {summary.deletions_applied} deletions applied; "
        f"mirror {path} holds {summary.mirror_records} records, snapshot {snapshot}"
    )


@mirror_app.command("search")
def search(
    query: Annotated[
        str, typer.Argument(help=r"PubMed query, e.g. 'menaquinone*\[tiab] AND cramp*\[tiab]'.")
    ],
    limit: Annotated[int, typer.Option("--limit", min=0, help="How many PMIDs to print.")] = 20,
    mindate: Annotated[
        str | None, typer.Option("--mindate", help="Entry date from (YYYY, YYYY/MM or YYYY/MM/DD).")
    ] = None,
    maxdate: Annotated[
        str | None, typer.Option("--maxdate", help="Entry date to (YYYY, YYYY/MM or YYYY/MM/DD).")
    ] = None,
    mirror: MirrorOption = None,
) -> None:
    r"""Search the mirror with a PubMed query; prints count, first PMIDs and any approximation.

    Prints the count, the first PMIDs (newest first), the query as evaluated and where that differs
    from what PubMed itself would do.

    Supported: AND OR NOT (left to right, as PubMed), parentheses, "phrases", wildcards*, tags \[tiab]
    \[ti] \[ab] \[mh] \[mh:noexp] \[majr] \[pt] \[la] \[au] \[dp] \[edat] and their long forms.

    Examples:

      litgrade mirror search '("vitamin k 2"\[mh] OR menaquinon*\[tiab]) AND cramp*\[tiab]'

      litgrade mirror search 'warfarin\[ti] AND 2015:2020\[dp] AND english\[la]' --limit 5
    """
    from flows.pubmed.query import QuerySyntaxError
    from flows.sources.mirror.source import MirrorSource
    from flows.store.mirror import MirrorIndex

    source = MirrorSource(MirrorIndex(_mirror_path(mirror)))
    try:
        result = source.search(query, mindate=mindate, maxdate=maxdate)
    except QuerySyntaxError as exc:
        typer.echo(exc.caret(), err=True)
        raise
    typer.echo(f"{result.count} records match ({result.source_detail})")
    if result.pmids and limit:
        more = f" ... (+{result.count - limit})" if result.count > limit else ""
        typer.echo("PMIDs: " + " ".join(result.pmids[:limit]) + more)
    typer.echo(f"evaluated as: {result.query_translation}")
    if result.approximation:
        typer.echo(result.approximation)


@mirror_app.command("info")
def info(mirror: MirrorOption = None) -> None:
    """Where the mirror is, how many records it holds, its snapshot date and the files ingested.

    Example: litgrade mirror info
    """
    from flows.pipeline.mirror_ingest import mirror_status

    status = mirror_status(_mirror_path(mirror))
    snapshot = status.snapshot_date.isoformat() if status.snapshot_date else "unknown"
    typer.echo(f"mirror: {status.path}")
    typer.echo(f"records: {status.records}")
    typer.echo(f"snapshot date: {snapshot} (newest revision or e-publication date seen)")
    typer.echo(f"files ingested: {len(status.files)}")
    for f in status.files:
        typer.echo(
            f"  {f.ingested_at:%Y-%m-%d %H:%M} {f.name} ({f.records} records, {f.deletions} deletions, "
            f"{f.problems} problems, sha256 {f.sha256[:12]})"
        )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(mirror_app, name="mirror")
