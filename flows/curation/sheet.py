"""Grading in a spreadsheet: export a curator's queue as CSV, import the filled-in sheet as grade events.

Import is all-or-nothing: every row is checked first and any bad row yields a row-numbered list of
problems with nothing written. Rows left blank (no relevance) are simply not graded yet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flows.curation.events import GradeEvent
from flows.curation.grade_check import decision_from_text, event_problems
from flows.curation.journal import now_timestamp
from flows.errors import InputError
from flows.project.claims import Project
from flows.project.curators import Curator, require_curator
from flows.pubmed.records import Article
from flows.pubmed.text import strip_controls

ARTICLE_COLUMNS = ("project", "claim", "pmid", "title", "journal", "year", "publication_types",
                   "suggested_level")  # fmt: skip
GRADE_COLUMNS = ("relevance", "exclude_reason", "level", "direction", "population", "risk_of_bias",
                 "bias_domain", "exposure", "indirectness", "indirect_reason", "outcome", "outcome_kind",
                 "quote", "note")  # fmt: skip
# Appraisal columns (issue 14) a sheet exported before them may lack: read as blank, never an error.
OPTIONAL_COLUMNS = ("bias_domain", "exposure", "indirectness", "indirect_reason", "outcome", "outcome_kind")
SHEET_COLUMNS = (*ARTICLE_COLUMNS, *GRADE_COLUMNS)
# A spreadsheet runs a cell starting with these as a formula; outside text must never be code.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class SheetItem:
    claim: str
    pmid: str
    article: Article | None
    suggested_level: str | None = None


def _cell(value: object) -> str:
    text = strip_controls(None if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text and never runs as a formula (every CSV litgrade writes)."""
    return _cell(value)


def write_sheet(project_ref: str, items: Iterable[SheetItem]) -> str:
    """The CSV text: one row per study to grade, article details filled in, grade columns empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SHEET_COLUMNS)
    for item in items:
        a = item.article
        writer.writerow(
            [
                _cell(project_ref),
                item.claim,
                item.pmid,
                _cell(a.title if a else ""),
                _cell((a.journal.iso_abbreviation or a.journal.title) if a else ""),
                _cell(a.pub_date.year if a else ""),
                _cell("; ".join(a.publication_type_names) if a else ""),
                item.suggested_level or "",
                *([""] * len(GRADE_COLUMNS)),
            ]
        )
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class Sheet:
    project_ref: str
    rows: tuple[tuple[int, dict[str, str]], ...]  # (row number, header → cell), header is row 1


# A sheet of a few thousand studies is a few MB; a cell holds a quote or a note, never a book.
MAX_SHEET_BYTES = 50_000_000
MAX_CELL_CHARS = 131_072  # 128 KB, the csv module's own default limit, made explicit


def read_sheet(path: Path) -> Sheet:
    try:
        size = path.stat().st_size
        if size > MAX_SHEET_BYTES:
            raise InputError(
                f"{path}: {size:,} bytes, more than the {MAX_SHEET_BYTES:,} a grading sheet may have; "
                "split it, or export one claim at a time (--claim)"
            )
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV"
        ) from None
    # strict: an unbalanced quote is an error, not the rest of the file swallowed into one cell.
    reader = csv.DictReader(io.StringIO(text), strict=True)
    previous = csv.field_size_limit(MAX_CELL_CHARS)
    try:
        header = reader.fieldnames or []
        required = [c for c in ("project", "claim", "pmid", *GRADE_COLUMNS) if c not in OPTIONAL_COLUMNS]
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError(
                f"{path}:row 1: missing column(s) {', '.join(missing)}; start from `litgrade grades export`"
            )
        rows = tuple(
            (number, {k: (v or "").strip() for k, v in row.items() if k})
            for number, row in enumerate(reader, start=2)
        )
    except csv.Error as exc:
        reason = str(exc)
        if "field larger than field limit" in reason:
            reason = f"a cell is longer than {MAX_CELL_CHARS:,} characters (128 KB); shorten it"
        elif "end of data" in reason or "quote" in reason:
            reason = f'{reason}: a quote (") is not closed; close it or remove it'
        # line_num counts the lines of the records read whole: the bad record starts on the next one.
        raise InputError(
            f"{path}:{reader.line_num + 1}: not a readable CSV: {reason}; nothing was imported"
        ) from None
    finally:
        csv.field_size_limit(previous)
    refs = {r["project"] for _, r in rows if r.get("project")}
    if len(refs) > 1:
        raise InputError(
            f"{path}: rows name more than one project ({', '.join(sorted(refs))}); one sheet per project"
        )
    return Sheet(project_ref=refs.pop() if refs else "", rows=rows)


def _row_event(row: Mapping[str, str], curator: str, timestamp: str) -> tuple[dict[str, object], list[str]]:
    decision, problems = decision_from_text(row)
    lead = {"claim": row.get("claim", ""), "pmid": row.get("pmid", ""), "curator": curator,
            "timestamp": timestamp, "kind": "grade"}  # fmt: skip
    return {**lead, **decision}, [str(p) for p in problems]


def sheet_events(
    sheet: Sheet,
    source: Path,
    project: Project,
    curators: Mapping[str, Curator],
    curator: str,
    hits: Mapping[str, Sequence[str]] | None = None,
) -> list[GradeEvent]:
    """Validate every row; the graded rows as events, or one InputError listing every bad row."""
    require_curator(dict(curators), curator, project.dir)
    claim_ids = {c.id for c in project.claims}
    timestamp = now_timestamp()
    errors: list[str] = []
    events: list[GradeEvent] = []
    seen: dict[tuple[str, str], int] = {}
    for number, row in sheet.rows:
        if not any(row.get(c) for c in GRADE_COLUMNS):
            continue  # not graded yet
        data, problems = _row_event(row, curator, timestamp)
        claim, pmid = str(data["claim"]), str(data["pmid"])
        if claim and claim not in claim_ids:
            problems.append(f"field 'claim': no claim '{claim}' in {project.claims_file}")
        elif hits is not None and claim in hits and pmid and pmid not in set(hits[claim]):
            problems.append(f"field 'pmid': {pmid} is not among claim '{claim}''s search results")
        if (claim, pmid) in seen:
            problems.append(
                f"field 'pmid': {pmid} for claim '{claim}' is graded again (row {seen[claim, pmid]})"
            )
        seen[claim, pmid] = number
        if not problems:
            problems = event_problems(data)
        if problems:
            errors.extend(f"{source}:row {number}: {p}" for p in problems)
        else:
            events.append(GradeEvent(**data))  # type: ignore[arg-type]
    if errors:
        raise InputError(
            f"{len(errors)} problem(s) in {source}; nothing was imported:\n  " + "\n  ".join(errors)
        )
    return events
