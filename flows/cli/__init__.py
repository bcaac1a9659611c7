"""The `litgrade` console script: a thin face on the library.

Each command area lives in its own module with a `register(app)` function; every command calls the
library and turns a LitgradeError into one clear line on stderr and its exit code (never a traceback).
Heavy imports (prefect, duckdb) happen inside commands so `--help` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from flows.config import quiet_prefect_environment
from flows.errors import LitgradeError

app = typer.Typer(
    name="litgrade",
    help="Check a health article's claims against PubMed, grade the studies, report the evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    from flows.cli import classify, curator, demo, grading, living, mirror, pipeline, server, web

    for module in (pipeline, grading, mirror, demo, classify, living, server, web, curator):
        module.register(app)
    importlib.import_module("flows.cli.retractions").register(app)
    importlib.import_module("flows.cli.export").register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; `argv` lets tests run the real CLI in-process."""
    from flows.cli.warm import delegate_early

    delegate_early(list(sys.argv[1:] if argv is None else argv))  # exits when a warm process ran it
    quiet_prefect_environment()
    try:
        app(args=argv, prog_name="litgrade")
    except LitgradeError as exc:
        from flows.cli.pipeline import printable

        typer.echo(f"litgrade: {printable(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("litgrade: interrupted; everything saved so far is kept", err=True)
        sys.exit(130)
