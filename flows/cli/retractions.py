"""`litgrade retractions ingest FILE.csv`: Retraction Watch data as a second retraction source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from flows import config

retractions_app = typer.Typer(
    help="Retraction Watch data (Crossref's CSV): retractions, expressions of concern, corrections.",
    no_args_is_help=True,
)


def ingest(
    csv_file: Annotated[
        Path, typer.Argument(help="retraction_watch.csv as Crossref publishes it (or a part of it).")
    ],
) -> None:
    """Store a Retraction Watch CSV: every row is checked first, and a bad row stores nothing.

    Notices are matched to graded studies by PMID or DOI on the next `litgrade update`, which flags
    them for re-review. Ingesting the same file again changes nothing.

    Example: litgrade retractions ingest curated/k2-muscle/snapshot/retraction-watch.csv
    """
    from flows.evidence.retraction_watch import read_csv
    from flows.store import retractions
    from flows.store.db import connect

    notices = read_csv(csv_file)  # the whole file is checked before the store is opened
    with connect(config.db_path()) as con:
        counts = retractions.ingest(con, notices, csv_file.name, dt.datetime.now(dt.UTC).replace(tzinfo=None))
        total = retractions.count(con)
    typer.echo(
        f"{csv_file}: {len(notices)} Retraction Watch record(s): {counts.new} new, {counts.changed} changed, "
        f"{counts.unchanged} unchanged; {total} in the store ({config.db_path()})"
    )


def register(app: typer.Typer) -> None:
    retractions_app.command("ingest")(ingest)
    app.add_typer(retractions_app, name="retractions")
