"""The `litgrade` console script: a thin face on the library.

Each command area lives in its own module with a `register(app)` function (flows/cli/commands.py
gathers them); every command calls the library and turns a LitgradeError into one clear line on
stderr and its exit code (never a traceback). Heavy imports (prefect, duckdb) happen inside commands
so `--help` stays fast, and this module imports nothing but the warm hand-off before it (a refresh a
warm process runs costs this process only Python's start: flows/cli/warm.py).
"""

from __future__ import annotations

import sys
from typing import Any


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; `argv` lets tests run the real CLI in-process."""
    from flows.cli.warm import delegate_early

    delegate_early(list(sys.argv[1:] if argv is None else argv))  # exits when a warm process ran it

    import typer

    from flows.cli.commands import command
    from flows.config import quiet_prefect_environment
    from flows.errors import LitgradeError

    quiet_prefect_environment()
    try:
        command()(args=argv, prog_name="litgrade")
    except LitgradeError as exc:
        from flows.cli.pipeline import printable

        typer.echo(f"litgrade: {printable(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("litgrade: interrupted; everything saved so far is kept", err=True)
        sys.exit(130)


def __getattr__(name: str) -> Any:
    """`flows.cli.app`, the Typer app, loaded on first use (PEP 562)."""
    if name == "app":
        from flows.cli.commands import app

        return app
    raise AttributeError(f"module 'flows.cli' has no attribute {name!r}")
