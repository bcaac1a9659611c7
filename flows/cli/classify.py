"""`litgrade classify FILE.xml [FILE...]`: the suggested study design of every record, one JSON per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows.errors import InputError, LitgradeError


def classify_lines(path: Path) -> tuple[list[str], list[str]]:
    """JSON lines for the file's articles, and problems (bad records) that name the file."""
    from flows.curation.suggest import load_rules, suggest
    from flows.pubmed.parser import parse
    from flows.pubmed.records import Article, ParseProblem

    rules = load_rules()
    lines: list[str] = []
    problems: list[str] = []
    for event in parse(path):
        if isinstance(event, Article):
            s = suggest(event, rules)
            record = {"pmid": event.pmid, "level": s.level, "confidence": round(s.confidence, 2),
                      "reasons": list(s.reasons)}  # fmt: skip
            lines.append(json.dumps(record, ensure_ascii=False))
        elif isinstance(event, ParseProblem):
            problems.append(f"{path}: record {event.pmid or '(no PMID)'} skipped: {event.reason}")
    return lines, problems


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command("classify")
    def classify(
        files: Annotated[
            list[Path],
            typer.Argument(help="PubMed XML files (EFetch or bulk files), plain or .gz.", metavar="FILE"),
        ],
    ) -> None:
        """Suggest a study design for every record: one JSON object per line on stdout.

        Each line is {"pmid", "level", "confidence", "reasons"}.

        `level` is a ladder level (schemas/evidence_ladder.yaml) or "unclear"; a suggestion is never a grade.

        Rules: schemas/suggest_rules.yaml. Problems go to stderr naming the file; exit code 2.

        Examples:

          litgrade classify efetch-29768149.xml

          litgrade classify pubmed26n0001.xml.gz | jq -r 'select(.level=="rct") | .pmid'
        """
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise InputError(f"{', '.join(missing)}: no such file; give PubMed XML files (plain or .gz)")
        failed = False
        for path in files:
            try:
                lines, problems = classify_lines(path)
            except LitgradeError as exc:
                typer.echo(f"litgrade: {exc}", err=True)
                failed = True
                continue
            for line in lines:
                typer.echo(line)
            for problem in problems:
                typer.echo(f"litgrade: {problem}", err=True)
            failed = failed or bool(problems)
        if failed:
            raise typer.Exit(code=InputError.exit_code)
