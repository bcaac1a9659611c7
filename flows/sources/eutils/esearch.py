"""ESearch answers → typed pages (lxml, safe: no entities, no DTD, no network).

Keeps what NCBI said besides the ids: QueryTranslation, TranslationSet, ErrorList (PhraseNotFound,
FieldNotFound… — the rest of the query still ran) and WarningList. A top-level ERROR is NCBI
refusing the request (FetchError); a body that is not a complete eSearchResult is retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from flows.errors import FetchError
from flows.ids import is_pmid
from flows.sources.eutils.http import RetryableResponse

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, remove_comments=True
)


@dataclass(frozen=True, slots=True)
class ESearchPage:
    count: int
    retstart: int
    ids: tuple[str, ...]
    query_translation: str | None = None
    translations: tuple[tuple[str, str], ...] = ()  # TranslationSet: (From, To)
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    webenv: str | None = None
    query_key: str | None = None


def _text(el: etree._Element | None) -> str:
    return " ".join((el.text or "").split()) if el is not None else ""


def _listing(root: etree._Element, tag: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for child in root.iterfind(f"{tag}/*"):
        if isinstance(child.tag, str) and _text(child):
            out.setdefault(child.tag, []).append(_text(child))
    return out


def parse_esearch(body: bytes, term: str) -> ESearchPage:
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise RetryableResponse(f"ESearch answer is not complete XML: {exc.msg or exc}") from exc
    if root.tag != "eSearchResult":
        raise RetryableResponse(f"ESearch answer has root <{root.tag}>, not <eSearchResult>")
    error = root.find("ERROR")
    if error is not None:
        raise FetchError(f"NCBI refused the search for '{term}': {_text(error)}")
    count = root.findtext("Count")
    if count is None or not count.strip().isdigit():
        raise RetryableResponse("ESearch answer has no Count")
    ids = tuple(t for t in (_text(e) for e in root.iterfind("IdList/Id")) if is_pmid(t))
    translations = tuple(
        (_text(t.find("From")), _text(t.find("To"))) for t in root.iterfind("TranslationSet/Translation")
    )
    qt = root.find("QueryTranslation")
    return ESearchPage(
        count=int(count),
        retstart=int((root.findtext("RetStart") or "0").strip() or 0),
        ids=ids,
        query_translation=_text(qt) if qt is not None else None,
        translations=translations,
        errors=_listing(root, "ErrorList"),
        warnings=_listing(root, "WarningList"),
        webenv=root.findtext("WebEnv"),
        query_key=root.findtext("QueryKey"),
    )
