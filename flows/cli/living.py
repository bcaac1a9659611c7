"""`litgrade update` (one living-evidence run now) and `litgrade schedule` (run it on a schedule)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.pipeline import ProjectArg, RunnerOpt
from flows.errors import ConfigError

SourceOpt = Annotated[
    str, typer.Option("--source", help="'eutils' (NCBI or LITGRADE_EUTILS_URL) or 'mirror'.")
]


def update(
    project: ProjectArg = "k2-muscle",
    source: SourceOpt = "eutils",
    run_time: Annotated[
        str | None, typer.Option("--run-time", help="Stamp the run with this ISO time instead of now.")
    ] = None,
    reports_dir: Annotated[
        Path | None, typer.Option("--out", help="Reports folder instead of reports/<project>/.")
    ] = None,
    runner: RunnerOpt = "threads",
) -> None:
    """One scheduled run, now: refresh every claim, re-check graded studies for retractions and
    corrections, regenerate the reports, write the digest of what changed.

    Example: NCBI_EMAIL=you@example.org litgrade update k2-muscle
    """
    from flows.cli.interrupt import interruptible
    from flows.cli.pipeline import command_run_settings, ready_for_flow, say

    proj, store, spec = ready_for_flow(project, source, runner)
    from flows.pipeline.living import living_refresh
    from flows.pipeline.refresh import check_runner, parse_run_time

    when = parse_run_time(run_time)
    chosen = check_runner(runner)
    with interruptible(proj.name, store), command_run_settings():
        summary = living_refresh(
            project=str(proj.dir), source=spec, run_time=when, reports_dir=reports_dir, runner=chosen
        )
    say(f"digest: {summary.digest_path}")
    say(summary.digest_path.read_text(encoding="utf-8").strip())


def schedule(
    project: ProjectArg = "k2-muscle",
    cron: Annotated[
        str | None, typer.Option("--cron", help='Cron expression, e.g. "0 6 * * 1" (Mondays 06:00).')
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of the cron schedule.")] = "UTC",
    interval: Annotated[
        float | None, typer.Option("--interval", help="Run every N seconds instead of a cron schedule.")
    ] = None,
    source: SourceOpt = "eutils",
    name: Annotated[str | None, typer.Option("--name", help="Deployment name.")] = None,
    reports_dir: Annotated[
        Path | None, typer.Option("--out", help="Reports folder instead of reports/<project>/.")
    ] = None,
    runner: RunnerOpt = "threads",
) -> None:
    """Serve the living-evidence run of PROJECT on a schedule from this long-running process.

    Needs a Prefect server (schedules do not run on the ephemeral one): start it with
    `prefect server start --host 127.0.0.1` and export PREFECT_API_URL=http://127.0.0.1:4200/api.

    Example: litgrade schedule k2-muscle --cron "0 6 * * 1" --timezone Europe/London
    """
    import datetime as dt
    import os

    from prefect.schedules import Cron, Interval

    from flows import config
    from flows.pipeline.living import living_refresh
    from flows.pipeline.refresh import check_runner
    from flows.project.claims import load_project

    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigError(
            "schedules need a Prefect server: run `prefect server start --host 127.0.0.1` and "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    if (cron is None) == (interval is None):
        raise ConfigError('give exactly one of --cron "0 6 * * 1" or --interval SECONDS')
    proj = load_project(project)
    config.source_spec(source)  # configuration errors now, not at the first scheduled run
    chosen = check_runner(runner)
    plan = (
        Cron(cron, timezone=timezone)
        if cron is not None
        else Interval(dt.timedelta(seconds=float(interval or 0)), timezone=timezone)
    )
    living_refresh.serve(
        name=name or f"living-{proj.name}",
        schedules=[plan],
        parameters={
            "project": str(proj.dir),
            # The name, not the spec: each run configures it from this process's environment, and
            # the deployment stored on the server never holds the API key.
            "source": source,
            "reports_dir": str(reports_dir.resolve()) if reports_dir else None,
            "runner": chosen,
        },
        print_starting_message=True,
        limit=1,  # a run due while the previous one is still going waits for it (the lock would refuse it)
    )


def register(app: typer.Typer) -> None:
    app.command()(update)
    app.command()(schedule)
