"""`litgrade serve` (the curator web app) and `litgrade curator passwd` (its sign-in passwords)."""

from __future__ import annotations

import ipaddress

import typer

curator_app = typer.Typer(help="Curator accounts for the web app.", no_args_is_help=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    project: str = typer.Argument(..., help="Project name (curated/<name>) or folder."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback is exposed."),
    port: int = typer.Option(8000, help="TCP port."),
    allowed_hosts: str = typer.Option(
        "",
        envvar="LITGRADE_ALLOWED_HOSTS",
        help="Host names the app answers besides 127.0.0.1, localhost and [::1], comma-separated "
        "(e.g. curate.example.org,*.lab.example.org); any other Host header gets 400.",
    ),
) -> None:
    """Run the curator web app for PROJECT.

    Then open http://127.0.0.1:8000/ (the port you chose) and sign in.

    Example: litgrade serve k2-muscle --port 8000
    """
    import uvicorn

    from flows.config import data_dir, db_path
    from flows.project.claims import load_project
    from flows.web.app import LOOPBACK_HOSTS, create_app, host_patterns
    from flows.web.data import WebConfig

    extra = [name for name in allowed_hosts.split(",") if name.strip()]
    if host not in ("0.0.0.0", "::", ""):
        extra.append(host)  # the address it is bound to is a name it answers to
    hosts = list(dict.fromkeys(host_patterns([*LOOPBACK_HOSTS, *extra])))
    loaded = load_project(project)
    if not is_loopback(host):
        typer.echo(
            f"litgrade: WARNING: binding to {host}, not loopback: anyone who can reach this address "
            "can try to sign in; the app has no TLS. Prefer 127.0.0.1 and an SSH tunnel.",
            err=True,
        )
    app = create_app(WebConfig(project=loaded, db_path=db_path(), data_dir=data_dir()), hosts)
    typer.echo(f"litgrade: serving {loaded.name} on http://{host}:{port}/ (Ctrl-C to stop)")
    typer.echo(
        f"litgrade: answering Host names {', '.join(hosts)} (add others with --allowed-hosts "
        "or LITGRADE_ALLOWED_HOSTS)"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@curator_app.command("passwd")
def passwd(
    name: str = typer.Argument(..., help="Curator id from curators.yaml."),
    project: str | None = typer.Option(
        None, "--project", "-p", help="Project name or folder (default: the only project under curated/)."
    ),
    password: str | None = typer.Option(
        None,
        help="Asked for interactively unless given (avoid: it lands in your shell history).",
        show_default=False,
    ),
) -> None:
    """Set a curator's web sign-in password (argon2 hash in the data folder, never in git).

    Example: litgrade curator passwd k2-team --project k2-muscle
    """
    from flows.config import curated_dir, data_dir
    from flows.errors import InputError
    from flows.project.claims import load_project
    from flows.project.curators import load_curators
    from flows.web.auth import PasswordStore

    if project is None:
        found = sorted(p.parent.name for p in curated_dir().glob("*/claims.yaml"))
        if len(found) != 1:
            raise InputError(
                f"say which project with --project (found {len(found)} under {curated_dir()}: "
                f"{', '.join(found) or 'none'})"
            )
        project = found[0]
    loaded = load_project(project)
    curators = load_curators(loaded.dir)
    if name not in curators:  # before asking for a password nobody could use
        raise InputError(
            f"{loaded.dir / 'curators.yaml'}: no curator '{name}' (declared: {', '.join(sorted(curators))}); "
            f"add them first: litgrade curator add {loaded.name} {name} --name \"Their Name\""
        )
    if password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    store = PasswordStore(data_dir(), loaded.name)
    store.set_password(name, password)
    typer.echo(f"litgrade: password set for {name} in project {loaded.name} ({store.path})")
    # Every session remembers the password it was opened with (flows.web.auth): the server sees the
    # file change on the next request and ends them.
    typer.echo(f"litgrade: {name}'s open web sessions are ended; they sign in again with the new password")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("serve")(serve)
    app.add_typer(curator_app, name="curator")
