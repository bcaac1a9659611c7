"""`litgrade grade` (interactive), `grades set|retract|export|import|repair|load`, `agreement`.

Each command calls the grading library; domain errors surface as one line via flows.cli.main.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows import config

if TYPE_CHECKING:
    from flows.project.claims import Project

ProjectArg = Annotated[
    str, typer.Argument(help="Project name under curated/ (e.g. k2-muscle) or a path to its folder.")
]
CuratorOpt = Annotated[str, typer.Option("--curator", help="Your curator id from curators.yaml.")]

grades_app = typer.Typer(
    name="grades",
    help="Grade data for scripts and spreadsheets: set, retract, export, import, repair, load.",
    no_args_is_help=True,
)


def grade(
    project: ProjectArg,
    claim: Annotated[str, typer.Option("--claim", help="The claim id whose studies you grade.")],
    curator: CuratorOpt,
    adjudicate: Annotated[
        bool,
        typer.Option("--adjudicate", help="Adjudicators: walk the claim's open conflicts instead."),
    ] = False,
) -> None:
    """Grade a claim's studies one key at a time; every grade is saved the moment you give it.

    One full screen: the claim, your position and progress on top, every key at the bottom.
    Keys: 1-9 level (then s/c/n/m/u direction), a accept the suggested level, x exclude (then a reason),
    ? maybe (set aside, back at the end), space skip, b back, t note, r retract your grade, v more text,
    q quit; appraisal, saved with the grade: h risk of bias (and domain), n sample size, e exposure,
    i indirectness (and why), o outcome, y outcome kind. With two reviewers you see the other curator's
    grade of a study only after you have graded it; a save that disagrees says so on the spot.

    Declare yourself first (litgrade curator add k2-muscle alice --name "Alice Example").

    Example: litgrade grade k2-muscle --claim k2-reduces-muscle-cramps-older-adults --curator alice
    """
    from flows.project.claims import load_project
    from flows.tui.grader import run_grading

    proj = load_project(project)
    run_grading(proj, claim, curator, config.db_path(), adjudicate=adjudicate)


def grades_set(
    project: ProjectArg,
    claim: Annotated[str, typer.Argument(help="Claim id.")],
    pmid: Annotated[str, typer.Argument(help="PubMed id of the study.")],
    curator: CuratorOpt,
    relevance: Annotated[
        str | None,
        typer.Option("--relevance", help="include or exclude (implied by --level / --exclude-reason)."),
    ] = None,
    level: Annotated[str | None, typer.Option("--level", help="Evidence level id, e.g. rct.")] = None,
    direction: Annotated[
        str | None, typer.Option("--direction", help="supports, contradicts, no_effect, mixed or unclear.")
    ] = None,
    exclude_reason: Annotated[
        str | None, typer.Option("--exclude-reason", help="Why excluded, e.g. off_topic.")
    ] = None,
    population: Annotated[int | None, typer.Option("--population", help="Study population size.")] = None,
    risk_of_bias: Annotated[
        str | None, typer.Option("--risk-of-bias", help="low, some_concerns, high or not_applicable.")
    ] = None,
    bias_domain: Annotated[
        str | None,
        typer.Option("--bias-domain", help="The domain that drove risk of bias, e.g. randomization."),
    ] = None,
    exposure: Annotated[
        str | None, typer.Option("--exposure", help="What was actually studied, e.g. 'MK-7 180 µg/day'.")
    ] = None,
    indirectness: Annotated[
        str | None, typer.Option("--indirectness", help="direct or indirect (then --indirect-reason).")
    ] = None,
    indirect_reason: Annotated[
        str | None, typer.Option("--indirect-reason", help="Why indirect, e.g. 'K1, not K2'.")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option("--outcome", help="Id of one of the claim's outcomes.")
    ] = None,
    outcome_kind: Annotated[
        str | None, typer.Option("--outcome-kind", help="clinical, surrogate or mechanistic.")
    ] = None,
    quote: Annotated[str | None, typer.Option("--quote", help="A quote from the abstract.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="A free note.")] = None,
    adjudicate: Annotated[
        bool, typer.Option("--adjudicate", help="Record an adjudication (adjudicators only): final.")
    ] = False,
) -> None:
    """Record one grade (appended to grades/<curator>.jsonl; the latest grade per study counts).

    Example: litgrade grades set k2-muscle k2-reduces-muscle-cramps-older-adults 39466236
    --curator alice --relevance include --level rct --direction supports --risk-of-bias low
    --indirectness direct --outcome leg_cramps --outcome-kind clinical
    """
    from flows.curation.events import GradeEvent
    from flows.curation.journal import append_event, now_timestamp
    from flows.project.claims import load_project

    proj = load_project(project)
    _require_result(proj, claim, pmid)
    if relevance is None:
        relevance = "exclude" if exclude_reason else "include"
    event = GradeEvent(
        claim=claim, pmid=pmid, curator=curator, timestamp=now_timestamp(),
        relevance=relevance,  # type: ignore[arg-type]
        exclude_reason=exclude_reason, level=level, direction=direction, population=population,
        risk_of_bias=risk_of_bias, bias_domain=bias_domain, exposure=exposure, indirectness=indirectness,
        indirect_reason=indirect_reason, outcome=outcome, outcome_kind=outcome_kind, quote=quote, note=note,
        kind="adjudication" if adjudicate else "grade",
    )  # fmt: skip
    append_event(proj.dir, event)
    typer.echo(f"saved {event.kind} of {claim} PMID {pmid} by {curator}: {relevance}"
               + (f" {level} {direction}" if relevance == "include" else f" ({exclude_reason})"))


def _require_result(proj: Project, claim: str, pmid: str) -> None:
    """As the sheet import does: a grade is only for a study the claim's search found (in the store)."""
    from flows.errors import InputError
    from flows.ids import is_pmid
    from flows.store.studies import load_studies

    claim_id = proj.claim(claim).id
    if not is_pmid(pmid):
        raise InputError(f"PMID {pmid!r} is not a PubMed id (digits only, no leading zero)")
    if not config.db_path().exists():
        raise InputError(
            f"no store at {config.db_path()}: claim '{claim_id}' has no search results yet; "
            f"run `litgrade refresh {proj.name}` first"
        )
    hits = load_studies(config.db_path(), proj.name, [claim_id], details=False).hits
    if pmid not in set(hits.get(claim_id, ())):
        raise InputError(
            f"PMID {pmid} is not among claim '{claim_id}''s search results; grade a study the search found "
            f"(`litgrade grades export {proj.name} --curator ...` lists them)"
        )


def grades_retract(
    project: ProjectArg,
    claim: Annotated[str, typer.Argument(help="Claim id.")],
    pmid: Annotated[str, typer.Argument(help="PubMed id of the study.")],
    curator: CuratorOpt,
) -> None:
    """Withdraw your standing grade (or adjudication) of one study: it goes back on your queue.

    Example: litgrade grades retract k2-muscle k2-reduces-muscle-cramps-older-adults 39466236
    --curator alice
    """
    from flows.curation.events import GradeEvent
    from flows.curation.journal import append_event, now_timestamp
    from flows.project.claims import load_project

    proj = load_project(project)
    append_event(proj.dir, GradeEvent(claim=claim, pmid=pmid, curator=curator,
                                      timestamp=now_timestamp(), kind="retract"))
    typer.echo(f"retracted {curator}'s grade of {claim} PMID {pmid}")


def _project_ref(directory: Path, name: str) -> str:
    from flows.config import curated_dir

    return name if directory.parent == curated_dir().resolve() else str(directory)


def grades_export(
    project: ProjectArg,
    curator: CuratorOpt,
    claim: Annotated[str | None, typer.Option("--claim", help="Only this claim (default: all).")] = None,
) -> None:
    """Print your grading queue as CSV: article details and empty grade columns to fill in.

    Example: litgrade grades export k2-muscle --curator alice
    --claim k2-activates-mgp-prevents-arterial-calcification > sheet.csv
    """
    from flows.curation.journal import read_events
    from flows.curation.review import queue
    from flows.curation.sheet import SheetItem, write_sheet
    from flows.project.claims import load_project
    from flows.project.curators import load_curators, require_curator
    from flows.store.studies import load_studies

    proj = load_project(project)
    require_curator(load_curators(proj.dir), curator, proj.dir)
    claim_ids = [proj.claim(claim).id] if claim else [c.id for c in proj.claims]
    studies = load_studies(config.db_path(), proj.name, claim_ids)
    events = read_events(proj.dir)
    items = [
        SheetItem(
            claim=c,
            pmid=p,
            article=studies.articles.get(p),
            suggested_level=getattr(studies.suggestions.get(p), "level", None),
        )
        for c in claim_ids
        for p in queue(proj, events, c, curator, studies.hits[c])
    ]
    sys.stdout.write(write_sheet(_project_ref(proj.dir, proj.name), items))
    typer.echo(f"{len(items)} stud{'y' if len(items) == 1 else 'ies'} to grade for {curator}", err=True)


def grades_import(
    sheet: Annotated[Path, typer.Argument(help="A CSV from `litgrade grades export`, filled in.")],
    curator: CuratorOpt,
    project: Annotated[
        str | None, typer.Option("--project", help="Override the sheet's project column.")
    ] = None,
) -> None:
    """Import a filled-in sheet: every row is checked first; any bad row → nothing is written.

    Rows with empty grade columns are left ungraded.

    Example: litgrade grades import sheet.csv --curator alice
    """
    from flows.curation.journal import append_events
    from flows.curation.sheet import read_sheet, sheet_events
    from flows.errors import InputError
    from flows.project.claims import load_project
    from flows.project.curators import load_curators
    from flows.store.studies import load_studies

    parsed = read_sheet(sheet)
    ref = project or parsed.project_ref
    if not ref:
        raise InputError(f"{sheet}: no project column values; pass --project NAME")
    proj = load_project(ref)
    hits = None
    if config.db_path().exists():
        hits = load_studies(config.db_path(), proj.name, [c.id for c in proj.claims], details=False).hits
    events = sheet_events(parsed, sheet, proj, load_curators(proj.dir), curator, hits)
    count = append_events(proj.dir, events)
    typer.echo(f"imported {count} grade(s) for {curator} into {proj.dir / 'grades' / (curator + '.jsonl')}")


def grades_repair(project: ProjectArg, curator: CuratorOpt) -> None:
    """Set aside every line of <curator>.jsonl that is not a valid grade event (a torn last line, a git
    conflict marker, NUL bytes, bad JSON or fields; anywhere in the file) into <curator>.jsonl.bad-<time>,
    byte for byte; the valid lines stay, in order.

    Example: litgrade grades repair k2-muscle --curator alice
    """
    from flows.curation.journal import repair_journal
    from flows.project.claims import load_project

    proj = load_project(project)
    done = repair_journal(proj.dir, curator)
    if done is None:
        typer.echo(f"every line of {curator}'s grades file is a valid grade event; nothing to do")
    else:
        lines = ", ".join(str(n) for n in done.lines)
        typer.echo(
            f"moved {len(done.lines)} bad line(s) ({'line' if len(done.lines) == 1 else 'lines'} {lines}) "
            f"to {done.side}, kept byte for byte; re-enter any grade that is missing"
        )


def grades_load(project: ProjectArg) -> None:
    """Load the grade files and final grades into the DuckDB store (replacing the project's rows).

    Example: litgrade grades load k2-muscle
    """
    from flows.project.claims import load_project
    from flows.store.db import connect
    from flows.store.grades import load_project_grades

    proj = load_project(project)
    with connect(config.db_path()) as con:
        counts = load_project_grades(con, proj)
    typer.echo(
        f"loaded {counts.events} grade event(s), {counts.final} final grade(s) into {config.db_path()}"
    )


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def agreement(
    project: ProjectArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list: pair, field, n, percent, kappa (all claims).")
    ] = False,
) -> None:
    """Per claim and overall: percent agreement and Cohen's kappa per curator pair and field, over
    each reviewer's independent grade (never a revision after seeing the other grade, never an
    adjudication); level and risk of bias use a linearly weighted kappa. Then the open conflicts.

    Example: litgrade agreement k2-muscle --json
    """
    import json

    from flows.curation.journal import read_events
    from flows.curation.review import adjudicator_ids, conflicts
    from flows.curation.review import agreement as compute_agreement
    from flows.project.claims import load_project

    proj = load_project(project)
    events = read_events(proj.dir)
    roles = adjudicator_ids(proj)
    rows = compute_agreement(proj, events, roles)
    if as_json:
        overall = [
            {"pair": list(r.curators), "field": r.field, "n": r.items, "percent": r.percent, "kappa": r.kappa,
             "weights": r.weights}
            for r in rows
            if r.claim is None
        ]  # fmt: skip
        typer.echo(json.dumps(overall, indent=1))
        return
    if not rows:
        typer.echo(f"{proj.name}: no study has independent grades by two curators yet")
    heading = None
    for row in rows:
        title = f"{row.claim or 'overall'} · {row.curators[0]} × {row.curators[1]}"
        if title != heading:
            typer.echo(title)
            heading = title
        weighted = f" ({row.weights})" if row.weights else ""
        typer.echo(
            f"  {row.field:<13} n={row.items:<4} agreement {_fmt(row.percent, '{:.1f}%'):>7}"
            f"  kappa {_fmt(row.kappa, '{:.2f}')}{weighted}"
        )
    open_items = [(c.id, conflicts(proj, events, c.id, adjudicators=roles)) for c in proj.claims]
    total = sum(len(p) for _, p in open_items)
    typer.echo(f"open conflicts: {total}")
    for claim_id, pmids in open_items:
        if pmids:
            typer.echo(f"  {claim_id}: {', '.join(pmids)}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("grade")(grade)
    app.command("agreement")(agreement)
    grades_app.command("set")(grades_set)
    grades_app.command("retract")(grades_retract)
    grades_app.command("export")(grades_export)
    grades_app.command("import")(grades_import)
    grades_app.command("repair")(grades_repair)
    grades_app.command("load")(grades_load)
    app.add_typer(grades_app, name="grades")
