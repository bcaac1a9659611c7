"""Exported studies → RIS (written by rispy), as Zotero, EndNote and Mendeley import it.

PMID in AN (accession number), PMCID in C2 (EndNote's PMCID slot), the PubMed URL in UR; litgrade's
fields as N1 notes ("litgrade level: rct") and KW keywords ("litgrade:level=rct").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rispy

from flows.exports.study import ExportStudy, authors


def ris_entry(study: ExportStudy) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type_of_reference": "JOUR",
        "id": f"{study.claim}-{study.pmid}",
        "authors": authors(study),
        "title": study.title or f"PubMed record {study.pmid} (not yet fetched)",
        "secondary_title": study.journal,
        "alternate_title1": study.journal_abbreviation,
        "year": str(study.year) if study.year else "",
        "accession_number": study.pmid,
        "urls": [study.pubmed_url],
        "name_of_database": "PubMed",
        "notes": [f"litgrade {name}: {value}" for name, value in study.litgrade_fields()],
        "keywords": [f"litgrade:{name}={value}" for name, value in study.keyword_fields()],
    }
    article = study.article
    if article is not None:
        start, end = study.pages()
        entry.update(
            volume=article.journal.volume or "",
            number=article.journal.issue or "",
            start_page=start,
            end_page=end,
            doi=article.doi or "",
            custom2=article.pmc or "",
            issn=article.journal.issn or "",
        )
    return {k: v for k, v in entry.items() if v}


class _Writer(rispy.RisWriter):
    """rispy's RIS writer without its "1." counter line before each reference (RIS has no such line;
    rispy's documented hook: an empty header is left out)."""

    def set_header(self, count: int) -> str:
        return ""


def to_ris(studies: Sequence[ExportStudy]) -> str:
    return str(rispy.dumps([ris_entry(s) for s in studies], implementation=_Writer))
