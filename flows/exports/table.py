"""Exported studies → CSV, one row per (claim, PMID); every cell through the grade sheet's guard
against spreadsheet formulas (flows.curation.sheet.safe_cell)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from flows.curation.sheet import safe_cell
from flows.exports.study import GRADE_FIELDS, ExportStudy, authors, grade_values

RECORD_COLUMNS = ("claim", "pmid", "pmcid", "doi", "pubmed_url", "authors", "title", "journal", "year",
                  "volume", "issue", "pages", "decision")  # fmt: skip
COLUMNS = (*RECORD_COLUMNS, *GRADE_FIELDS, "retraction_status")


def to_csv(studies: Sequence[ExportStudy]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in studies:
        a = s.article
        start, end = s.pages()
        record = [
            s.claim,
            s.pmid,
            a.pmc if a else "",
            a.doi if a else "",
            s.pubmed_url,
            "; ".join(authors(s)),
            s.title,
            s.journal,
            s.year or "",
            a.journal.volume if a else "",
            a.journal.issue if a else "",
            f"{start}-{end}" if end else start,
            s.decision(),
        ]
        grade = grade_values(s.grade)
        row = [*record, *(grade[name] for name in GRADE_FIELDS), "; ".join(s.status) or "none known"]
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()
