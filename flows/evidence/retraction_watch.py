"""The Retraction Watch database as data: its CSV (as Crossref publishes it) → typed notices (pure).

Crossref took the database over in 2023 and publishes it as one CSV, `retraction_watch.csv` in
gitlab.com/crossref/retraction-watch-data (the release followed here: the header of the files
published from 2024 on, e.g. the one generated on 2025-06-06):

    Record ID,Title,Subject,Institution,Journal,Publisher,Country,Author,URLS,ArticleType,
    RetractionDate,RetractionDOI,RetractionPubMedID,OriginalPaperDate,OriginalPaperDOI,
    OriginalPaperPubMedID,RetractionNature,Reason,Paywalled,Notes

Dates come as `M/D/YYYY H:MM` (ISO dates are accepted too); a PubMed id of `0` or blank means none;
`RetractionNature` is Retraction, Expression of concern, Correction or Reinstatement (or blank). Every
row is checked before anything is returned, and a bad one is refused with file:line and the column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flows.errors import InputError
from flows.ids import is_pmid

REQUIRED_COLUMNS = (
    "Record ID",
    "Title",
    "RetractionDate",
    "RetractionDOI",
    "RetractionPubMedID",
    "OriginalPaperDOI",
    "OriginalPaperPubMedID",
    "RetractionNature",
    "Reason",
)
NATURES = {
    "retraction": "retraction",
    "expression of concern": "expression_of_concern",
    "correction": "correction",
    "reinstatement": "reinstatement",
    "": "unspecified",
}
SOURCE_NAME = "Retraction Watch"
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?")
_RECORD_ID = re.compile(r"[0-9]{1,12}")
_DOI = re.compile(r"10\.[0-9]{3,9}/\S+")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.I)


@dataclass(frozen=True, slots=True)
class Notice:
    """One Retraction Watch record: a retraction, expression of concern, correction or reinstatement."""

    record_id: str
    nature: str  # retraction | expression_of_concern | correction | reinstatement | unspecified
    original_doi: str | None  # lowercased, no resolver prefix
    original_pmid: str | None
    notice_date: str | None  # ISO YYYY-MM-DD
    notice_doi: str | None
    notice_pmid: str | None
    reason: str
    title: str

    def describe(self) -> str:
        """One line for a digest or a report: what, when, why, and that Retraction Watch says so."""
        what = {
            "retraction": "retracted",
            "expression_of_concern": "expression of concern",
            "correction": "correction published",
            "reinstatement": "reinstated",
        }.get(self.nature, "notice")
        when = f" on {self.notice_date}" if self.notice_date else ""
        why = f": {self.reason}" if self.reason else ""
        return f"{what}{when} per {SOURCE_NAME} (record {self.record_id}){why}"


def normalise_doi(value: str | None) -> str | None:
    """A DOI as matching compares it: no resolver prefix, lowercase; None if it is no DOI."""
    text = _DOI_PREFIX.sub("", (value or "").strip()).lower()
    return text if _DOI.fullmatch(text) else None


def _date(value: str, where: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    try:
        if m := _US_DATE.fullmatch(text):
            return dt.date(int(m[3]), int(m[1]), int(m[2])).isoformat()
        if m := _ISO_DATE.fullmatch(text):
            return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        pass
    raise InputError(f"{where}: column 'RetractionDate' must be a date like 2/28/2020 0:00, got {text!r}")


def _pmid(value: str, column: str, where: str) -> str | None:
    text = value.strip()
    if text in ("", "0"):
        return None
    if not is_pmid(text):
        raise InputError(f"{where}: column '{column}' must be a PubMed id (digits) or 0, got {text!r}")
    return text


def _doi(value: str, column: str, where: str) -> str | None:
    text = value.strip()
    if text.lower() in ("", "unavailable", "na", "n/a"):
        return None
    doi = normalise_doi(text)
    if doi is None:
        raise InputError(f"{where}: column '{column}' must be a DOI (10.xxxx/...), got {text[:60]!r}")
    return doi


def parse_row(row: dict[str, str], where: str) -> Notice:
    """One CSV row (column → text) → a Notice, or an InputError naming file:line and the column."""
    record_id = row["Record ID"].strip()
    if not _RECORD_ID.fullmatch(record_id):
        raise InputError(f"{where}: column 'Record ID' must be a number, got {record_id[:40]!r}")
    nature_text = " ".join(row["RetractionNature"].split()).lower()
    if nature_text not in NATURES:
        raise InputError(
            f"{where}: column 'RetractionNature' must be Retraction, Expression of concern, Correction "
            f"or Reinstatement, got {row['RetractionNature'][:40]!r}"
        )
    return Notice(
        record_id=record_id,
        nature=NATURES[nature_text],
        original_doi=_doi(row["OriginalPaperDOI"], "OriginalPaperDOI", where),
        original_pmid=_pmid(row["OriginalPaperPubMedID"], "OriginalPaperPubMedID", where),
        notice_date=_date(row["RetractionDate"], where),
        notice_doi=_doi(row["RetractionDOI"], "RetractionDOI", where),
        notice_pmid=_pmid(row["RetractionPubMedID"], "RetractionPubMedID", where),
        reason=" ".join(row["Reason"].replace(";", "; ").split()).strip("; +").replace("+", ""),
        title=" ".join(row["Title"].split()),
    )


def parse_csv(text: str, source: Path | str) -> list[Notice]:
    """Every notice of a Retraction Watch CSV, in file order; any bad row refuses the whole file."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source}:1: empty file; expected the Retraction Watch header") from None
    except csv.Error as exc:
        raise InputError(f"{source}:1: not CSV ({exc})") from None
    columns = [h.strip() for h in header]
    while columns and not columns[-1]:  # Crossref's files end every line with a comma
        columns.pop()
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(
            f"{source}:1: not a Retraction Watch CSV: missing column(s) {', '.join(missing)} "
            "(expected Crossref's header: Record ID,Title,...,RetractionNature,Reason,...)"
        )
    notices: list[Notice] = []
    seen: dict[str, int] = {}
    line = 1
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"{source}:{start}: not valid CSV ({exc})") from None
        line = reader.line_num
        where = f"{source}:{start}"
        if not any(c.strip() for c in cells):
            continue
        extra = cells[len(columns) :]
        if len(cells) < len(columns) or any(c.strip() for c in extra):
            raise InputError(
                f"{where}: {len(cells)} column(s) where the header has {len(columns)}; "
                "a field with a comma must be quoted"
            )
        notice = parse_row(dict(zip(columns, cells, strict=False)), where)
        if notice.record_id in seen:
            raise InputError(
                f"{where}: Record ID {notice.record_id} appears twice "
                f"(first on line {seen[notice.record_id]})"
            )
        seen[notice.record_id] = start
        notices.append(notice)
    return notices


def read_csv(path: Path) -> list[Notice]:
    """parse_csv of a file, with a clear line if it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    return parse_csv(text, path)


def matching(notices: Sequence[Notice], pmid: str, doi: str | None) -> list[Notice]:
    """The notices about one paper: by its PMID, or by its DOI."""
    key = normalise_doi(doi)
    return [n for n in notices if (n.original_pmid == pmid) or (key is not None and n.original_doi == key)]
