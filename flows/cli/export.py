"""`litgrade export`: a project's studies as RIS, BibTeX or CSV, for reference managers and spreadsheets."""

from __future__ import annotations

from typing import Annotated

import typer

from flows import config


def export(
    project: Annotated[str, typer.Argument(help="Project name under curated/ or a path to its folder.")],
    fmt: Annotated[str, typer.Option("--format", help="ris, bibtex or csv.")],
    claim: Annotated[str | None, typer.Option("--claim", help="Only this claim's studies.")] = None,
    what: Annotated[
        str, typer.Option("--what", help="'included' (final grade include) or 'all' (every hit).")
    ] = "included",
    out: Annotated[
        str, typer.Option("--out", help="File to write (atomically); '-' = standard output.")
    ] = "-",
) -> None:
    """Export studies with authors, title, journal, year, volume/pages, DOI, PMID, PMCID, PubMed URL and
    litgrade's fields (decision, level, direction, curators, retraction status) in the note/keyword slots.

    Example: litgrade export k2-muscle --claim k2-food-sources --format ris --out k2-food-sources.ris
    """
    from flows.exports.write import export_studies, export_text, write_export
    from flows.project.claims import load_project

    proj = load_project(project)
    studies = export_studies(proj, config.db_path(), claim, what)  # type: ignore[arg-type]
    text = export_text(studies, fmt)
    path = write_export(text, out)
    if path is not None:
        typer.echo(f"wrote {len(studies)} {fmt} record(s) of {proj.name} to {path}")


def register(app: typer.Typer) -> None:
    app.command()(export)
