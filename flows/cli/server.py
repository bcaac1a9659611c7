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
        f"log {server.log_path()}{_warm_note()}"
    )


def _warm_note() -> str:
    from flows.cli import warm

    pid = warm.warm_pid()
    return f"; warm process pid {pid} runs refresh and update without the Prefect import" if pid else ""


@server_app.command()
def start() -> None:
    """Start the local Prefect server now (commands start it on first use anyway).

    Example: litgrade server start
    """
    from flows.cli import warm
    from flows.pipeline import server

    url = server.use_prefect_server()
    info = server.running()
    if url is None or info is None:
        typer.echo(
            "no local Prefect server to start: PREFECT_API_URL or LITGRADE_PREFECT_SERVER=ephemeral is set"
        )
        return
    if warm.allowed() and not warm.wait_until_warm(timeout=0.5):
        warm.start_warm_process()
        warm.wait_until_warm()
    typer.echo(f"local Prefect server running at {info.url} (keeper pid {info.pid}){_warm_note()}")


@server_app.command()
def stop() -> None:
    """Stop the local Prefect server (the next command that needs it starts a new one).

    Example: litgrade server stop
    """
    from flows.cli import warm
    from flows.pipeline import server

    warm.stop_warm_process()
    info = server.stop_server()
    typer.echo(
        f"stopped the local Prefect server at {info.url}" if info else "no local Prefect server to stop"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(server_app)
