"""`litgrade refresh`, `report` and `status`: the pipeline's everyday commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from flows import config

RunnerOpt = Annotated[
    str,
    typer.Option(
        "--runner", help="'threads' (this process) or 'dask' (a local Dask cluster; needs a Prefect server)."
    ),
]
ProjectArg = Annotated[
    str, typer.Argument(help="Project name under curated/ (e.g. k2-muscle) or a path to its folder.")
]


def refresh(
    project: ProjectArg = "k2-muscle",
    claim: Annotated[str | None, typer.Option("--claim", help="Refresh only this claim id.")] = None,
    source: Annotated[
        str, typer.Option("--source", help="'eutils' (NCBI or LITGRADE_EUTILS_URL) or 'mirror'.")
    ] = "eutils",
    run_time: Annotated[
        str | None,
        typer.Option("--run-time", help="Stamp search runs with this ISO time instead of now."),
    ] = None,
    runner: RunnerOpt = "threads",
) -> None:
    """Search PubMed for each claim and store new records.

    Example: NCBI_EMAIL=you@example.org litgrade refresh k2-muscle
    --claim k2-reduces-muscle-cramps-older-adults
    """
    from flows.pipeline.lock import project_lock
    from flows.pipeline.refresh import check_runner, parse_run_time, refresh_with_runner
    from flows.project.claims import load_project
    from flows.tui import progress

    proj = load_project(project)  # validate before Prefect starts
    spec = config.source_spec(source)
    when = parse_run_time(run_time)
    refresh_flow = refresh_with_runner(check_runner(runner))
    progress.set_sink(progress.TerminalProgress() if sys.stderr.isatty() else progress.LogProgress())
    try:
        with project_lock(proj.name):
            summary = refresh_flow(project=str(proj.dir), claim=claim, source=spec, run_time=when)
    finally:
        progress.set_sink(None)
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[2K")
    fetched = sum(c.fetched for c in summary.claims)
    new = sum(len(c.new_hits) for c in summary.claims)
    typer.echo(
        f"refreshed {len(summary.claims)} claim(s) of {summary.project}: {new} new hit(s), "
        f"{fetched} record(s) fetched; {summary.stats_line()}; store: {config.db_path()}"
    )
    for problem in summary.problems:
        typer.echo(f"skipped a record the parser could not read: {problem}", err=True)


def report(
    project: ProjectArg = "k2-muscle",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of reports/<project>/.")
    ] = None,
) -> None:
    """Write each claim's evidence report and the article scorecard under reports/<project>/.

    Example: litgrade report k2-muscle
    """
    from flows.project.claims import load_project
    from flows.reports.write import write_project_reports

    proj = load_project(project)
    out_dir = out or config.reports_dir(proj.name)
    summary = write_project_reports(proj, config.db_path(), out_dir)
    for line in summary.lines():
        typer.echo(line)


def status(project: ProjectArg = "k2-muscle") -> None:
    """Claims, records per claim, last search run, NCBI's warnings and errors, grading progress.

    Example: litgrade status k2-muscle
    """
    from flows.pipeline.status import project_status
    from flows.project.claims import load_project

    proj = load_project(project)
    for line in project_status(proj, Path(config.db_path())):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    app.command()(refresh)
    app.command()(report)
    app.command()(status)
