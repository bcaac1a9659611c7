"""`litgrade refresh`, `report` and `status`: the pipeline's everyday commands."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from flows import config
from flows.errors import ConfigError, InputError, LitgradeError

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
    proj, store, spec = ready_for_flow(project, source, runner, claim)
    from flows.cli.interrupt import interruptible
    from flows.pipeline import early
    from flows.pipeline.lock import project_lock
    from flows.pipeline.refresh import (
        check_runner,
        parse_run_time,
        refresh_with_runner,
        run_stamp,
        start_searches_early,
    )
    from flows.tui import progress

    when = run_stamp(parse_run_time(run_time))  # once: the early searches plan with the flow's stamp
    chosen = check_runner(runner)
    refresh_flow = refresh_with_runner(chosen)
    terminal = sys.stderr.isatty()
    progress.set_sink(CleanProgress(progress.TerminalProgress() if terminal else progress.LogProgress()))
    try:
        # The lock outermost: the open runs are marked while this process still holds it.
        with project_lock(proj.name), interruptible(proj.name, store), command_run_settings():
            if chosen == "threads":  # a Dask worker could not take a search started in this process
                claims = [proj.claim(claim)] if claim else list(proj.claims)
                start_searches_early(proj.name, claims, spec, store, when)
            summary = refresh_flow(project=str(proj.dir), claim=claim, source=spec, run_time=when)
    finally:
        early.forget()
        progress.set_sink(None)
        if terminal:
            sys.stderr.write("\r\x1b[2K")
    fetched = sum(c.fetched for c in summary.claims)
    new = sum(len(c.new_hits) for c in summary.claims)
    say(
        f"refreshed {len(summary.claims)} claim(s) of {summary.project}: {new} new hit(s), "
        f"{fetched} record(s) fetched; {summary.stats_line()}; store: {store}"
    )
    for problem in summary.problems:
        say(f"skipped a record the parser could not read: {problem}", err=True)
    incomplete = [c.claim_id for c in summary.claims if c.status != "completed"]
    if incomplete:
        raise ClaimsIncompleteError(
            f"{len(incomplete)} of {len(summary.claims)} claims incomplete ({', '.join(incomplete)}): "
            "some records were not fetched — the next refresh fetches them"
        )


class ClaimsIncompleteError(LitgradeError):
    """Some claims ended incomplete (records not fetched); the next refresh resumes them."""

    exit_code = 1


# Whole terminal escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ESC \`, `ESC c`, …), so no
# "[31m" residue is left once strip_controls drops the ESC byte itself.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC
    r"|\x1b[ -/]*[0-~]"  # the other ESC sequences (ESC c, ESC ( B, …)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def printable(text: str) -> str:
    """Outside text (a server's error body, a record's title) safe to print to a terminal."""
    from flows.pubmed.text import strip_controls

    return strip_controls(_ESCAPES.sub("", text))


def ready_for_flow(project: str, source: str, runner: str, claim: str | None = None) -> tuple[Any, Path, Any]:
    """(project, store path, source spec) for `refresh` and `update`. Everything a person can fix is
    answered before Prefect starts (or is even imported); then the local Prefect server; then the
    command goes to the warm process (flows/cli/warm.py) if one can run it; else SIGTERM is blocked
    before Prefect's threads exist, so it reaches only our waiting thread."""
    from flows.cli.interrupt import block_sigterm
    from flows.cli.warm import delegate_or_continue
    from flows.pipeline.lock import ensure_free
    from flows.pipeline.server import use_prefect_server
    from flows.project.claims import load_project

    proj = load_project(project)
    if claim:
        proj.claim(claim)  # an unknown claim id is refused here, not inside the flow
    config.source_spec(source)
    store = check_store()
    check_runner_early(runner)
    ensure_free(proj.name)
    if use_prefect_server() is not None and runner == "threads":
        delegate_or_continue()  # the data folder's warm process runs it (and this exits), or returns
    spec = config.source_spec(source)  # again: a Prefect server now holds the global NCBI pace
    block_sigterm()
    return proj, store, spec


@contextlib.contextmanager
def command_run_settings() -> Iterator[None]:
    """Prefect's settings for a flow run a person starts from a shell: no flow-run heartbeats, unless
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY is set. The heartbeat thread sleeps in 1 s steps and the engine
    joins it as the run ends, so every command waited up to 1 s for it (0.46 s measured on an
    unchanged refresh). Heartbeats only let a Prefect automation mark a vanished run crashed; a
    command's run is watched by the person who started it, and a stopped one is marked interrupted
    in the store (flows/cli/interrupt.py)."""
    if os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        yield
        return
    from prefect.context import SettingsContext

    current = SettingsContext.get()
    assert current is not None  # Prefect's root context always exists once it is imported
    cached = _RUN_SETTINGS.get(id(current.settings))
    if cached is None:  # building Settings costs ~0.14 s: once per process (the warm one: at start)
        quiet = current.settings.copy_with_update(updates={"flows.heartbeat_frequency": None})
        cached = (current.settings, quiet)
        _RUN_SETTINGS.clear()
        _RUN_SETTINGS[id(current.settings)] = cached
    with SettingsContext(profile=current.profile, settings=cached[1]):
        yield


_RUN_SETTINGS: dict[int, tuple[Any, Any]] = {}  # id(settings) → (those settings, without heartbeats)


def say(line: str, *, err: bool = False) -> None:
    """Print one line with any control characters (terminal escapes from a server) removed."""
    typer.echo(printable(line), err=err)


class CleanProgress:
    """A progress sink that strips control characters from the per-claim lines before they print."""

    def __init__(self, inner: Any) -> None:
        self.strip = printable
        self.inner = inner

    def started(self, claims: int) -> None:
        self.inner.started(claims)

    def claim_searched(self, claim_id: str, found: int) -> None:
        self.inner.claim_searched(self.strip(claim_id), found)

    def records_fetched(self, count: int) -> None:
        self.inner.records_fetched(count)

    def claim_finished(self, claim_id: str, line: str) -> None:
        self.inner.claim_finished(self.strip(claim_id), self.strip(line))


def check_runner_early(runner: str) -> None:
    """The runner refused before anything starts. Dask stays tied to a Prefect server the user runs
    (PREFECT_API_URL): its worker processes report to it; the local per-data-folder server is not
    offered to them. refresh.check_runner says the same once Prefect is loaded."""
    if runner not in ("threads", "dask"):
        raise InputError(f"unknown runner '{runner}': use one of threads, dask")
    if runner == "dask" and not config.prefect_server_paces():
        raise ConfigError(
            "--runner dask needs a Prefect server (tasks run in other processes): run "
            "`prefect server start --host 127.0.0.1` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )


def check_store() -> Path:
    """The store's path, refused in one line when it cannot be written there."""
    path = config.db_path()
    if path.is_dir():
        raise ConfigError(f"the store {path} is a folder, not a DuckDB file: set LITGRADE_DB to a file path")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the store's folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise ConfigError(
            f"the store {path} is not writable by this user: fix its permissions or set LITGRADE_DB"
        )
    return path


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
        say(line)


def register(app: typer.Typer) -> None:
    app.command()(refresh)
    app.command()(report)
    app.command()(status)
