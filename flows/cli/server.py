"""`litgrade server status|start|stop`: the local Prefect server the flows share (flows/pipeline/server)."""

from __future__ import annotations

import typer

server_app = typer.Typer(
    name="server",
    help="The local Prefect server every refresh, update and demo reuses (started on first use).",
    no_args_is_help=True,
)


@server_app.command()
def status() -> None:
    """Whether the local Prefect server runs: its URL, keeper pid, log and state folders.

    Example: litgrade server status
    """
    from flows.pipeline import server

    info = server.running()
    if info is None:
        recorded = server.read_info()
        typer.echo(
            "no local Prefect server running"
            + (" (a stale record was left)" if recorded else "")
            + f"; the next refresh starts one (log: {server.log_path()})"
        )
        return
    typer.echo(
        f"local Prefect server running at {info.url} (keeper pid {info.pid}, since {info.started_at}); "
        f"stops after {server.idle_minutes():g} min unused; state {info.prefect_home}; "
        f"log {server.log_path()}"
    )


@server_app.command()
def start() -> None:
    """Start the local Prefect server now (commands start it on first use anyway).

    Example: litgrade server start
    """
    from flows.pipeline import server

    info = server.ensure_server()
    typer.echo(f"local Prefect server running at {info.url} (keeper pid {info.pid})")


@server_app.command()
def stop() -> None:
    """Stop the local Prefect server (the next command that needs it starts a new one).

    Example: litgrade server stop
    """
    from flows.pipeline import server

    info = server.stop_server()
    typer.echo(
        f"stopped the local Prefect server at {info.url}" if info else "no local Prefect server to stop"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(server_app)
