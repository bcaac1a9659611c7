"""`litgrade demo`: the K2 showcase, reproduced offline from the shipped snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the reports here instead of reports/k2-muscle/.", show_default=False
        ),
    ] = None,
) -> None:
    """Fact-check the K2 article offline: snapshot → mirror → fresh store → committed grades → reports.

    Needs no network and no NCBI account: it builds a local mirror from
    curated/k2-muscle/snapshot/k2-snapshot.xml (44 real PubMed records, with summaries written for
    the demo in place of abstracts), refreshes every claim from it into a fresh store, reads
    curated/k2-muscle/grades/, and writes reports/k2-muscle/. Running it twice changes nothing.

    The store and mirror are the data folder's own (.data/litgrade.duckdb, .data/mirror.duckdb, or
    LITGRADE_DATA / LITGRADE_DB / LITGRADE_MIRROR), so status, serve, grade, grades export and mirror
    info find them afterwards. A store or mirror holding anything else (a live refresh, a PubMed
    baseline) is left alone and the demo stops with a line saying so.

    Example: litgrade demo
    """
    from flows.pipeline.server import use_prefect_server

    use_prefect_server()

    from flows.pipeline.demo import run_demo

    summary = run_demo(out.resolve() if out else None)
    for line in summary.lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command()(demo)
