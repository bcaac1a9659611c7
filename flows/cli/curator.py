"""`litgrade curator add`: declare who may grade a project (curated/<project>/curators.yaml)."""

from __future__ import annotations

from typing import Annotated

import typer


def add(
    project: Annotated[
        str, typer.Argument(help="Project name under curated/ (e.g. k2-muscle) or a path to its folder.")
    ],
    curator_id: Annotated[
        str,
        typer.Argument(metavar="ID", help="The curator's id: a-z, 0-9, '-' or '_', at most 40 characters."),
    ],
    name: Annotated[str, typer.Option("--name", help="The person's name, as reports show it.")],
    role: Annotated[
        str, typer.Option("--role", help="curator (grades studies) or adjudicator (also settles conflicts).")
    ] = "curator",
) -> None:
    """Declare a curator in the project's curators.yaml (its comments and layout are kept).

    Then set their web password with `litgrade curator passwd ID`, or grade in the terminal with
    `litgrade grade PROJECT --claim CLAIM --curator ID`.

    Example: litgrade curator add k2-muscle alice --name "Alice Example"
    """
    from flows.project.claims import load_project
    from flows.project.curators import CURATORS_FILE, add_curator

    loaded = load_project(project)
    added = add_curator(loaded.dir, curator_id, name, role)
    typer.echo(
        f"litgrade: {added.id} ({added.name}) added to {loaded.dir / CURATORS_FILE} as {added.role}; "
        f"next: litgrade curator passwd {added.id} --project {loaded.name}"
    )


def register(app: typer.Typer) -> None:
    """Add `curator add` to the `curator` group (which `serve` and `curator passwd` share in cli/web.py)."""
    from flows.cli.web import curator_app

    curator_app.command("add")(add)
