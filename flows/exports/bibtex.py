"""Exported studies → BibTeX (written by bibtexparser v2, LaTeX-encoded so any title survives).

One @article per (claim, PMID), key pmid<PMID>-<claim>; pmid, pmcid, doi and url fields as Zotero and
biblatex read them; litgrade's fields in `note` ("litgrade level: rct; …") and `keywords`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import bibtexparser
from bibtexparser import middlewares, model
from pylatexenc.latexencode import RULE_DICT, UnicodeToLatexConversionRule, UnicodeToLatexEncoder

from flows.exports.study import ExportStudy, authors

# Read verbatim by biblatex (no LaTeX escaping inside): kept only when they hold no brace or backslash.
VERBATIM = ("doi", "pmid", "pmcid", "url")
_UNSAFE_VERBATIM = re.compile(r"[{}\\\s%#]")


# pylatexenc's defaults, except that a straight double quote stays one (its default, '', reads back as a
# closing curly quote); unknown characters are kept as UTF-8, which biber and Zotero read.
_ENCODER = UnicodeToLatexEncoder(
    conversion_rules=[UnicodeToLatexConversionRule(RULE_DICT, {ord('"'): '"'}), "defaults"],
    unknown_char_policy="keep",
)


def _prose(study: ExportStudy) -> dict[str, str]:
    start, end = study.pages()
    article = study.article
    return {
        "author": " and ".join(authors(study)),
        "title": study.title or f"PubMed record {study.pmid} (not yet fetched)",
        "journal": study.journal,
        "year": str(study.year) if study.year else "",
        "volume": (article.journal.volume or "") if article else "",
        "number": (article.journal.issue or "") if article else "",
        "pages": f"{start}--{end}" if start and end else start,
        "note": "; ".join(f"litgrade {name}: {value}" for name, value in study.litgrade_fields()),
        "keywords": ", ".join(f"litgrade:{name}={value}" for name, value in study.keyword_fields()),
    }


def _verbatim(study: ExportStudy) -> dict[str, str]:
    article = study.article
    values = {
        "doi": (article.doi or "") if article else "",
        "pmid": study.pmid,
        "pmcid": (article.pmc or "") if article else "",
        "url": study.pubmed_url,
    }
    return {k: v for k, v in values.items() if v and not _UNSAFE_VERBATIM.search(v)}


def bibtex_entry(study: ExportStudy) -> model.Entry:
    """One @article; prose fields still in Unicode (to_bibtex LaTeX-encodes them)."""
    fields = [model.Field(key, value) for key, value in _prose(study).items() if value]
    return model.Entry("article", f"pmid{study.pmid}-{study.claim}", fields)


def to_bibtex(studies: Sequence[ExportStudy]) -> str:
    library = bibtexparser.Library()
    for study in studies:
        library.add(bibtex_entry(study))
    # Prose is LaTeX-encoded (braces, %, $, &, accents: any title survives); identifiers are not.
    library = middlewares.LatexEncodingMiddleware(encoder=_ENCODER).transform(library)
    for study, entry in zip(studies, library.entries, strict=True):
        for key, value in _verbatim(study).items():
            entry.set_field(model.Field(key, value))
    return bibtexparser.write_string(library)
