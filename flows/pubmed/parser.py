"""Streaming PubMed XML parser: efetch responses, baseline/update files, legacy MedlineCitationSet.

``parse(source)`` yields one event per record as the XML streams in (lxml ``iterparse``; each record's
elements are freed once it is built, so memory does not grow with the file):

* ``Article`` for every PubmedArticle, PubmedBookArticle or bare MedlineCitation;
* ``DeletedCitations`` for every DeleteCitation block (the store removes those PMIDs);
* ``ParseProblem`` for a record that has no PMID or no title — reported and skipped.

XML that does not parse to its end (truncated, not XML, an HTML error page, an E-utilities ERROR
document) raises ``PubmedXMLError`` naming the source, after the records already read were yielded,
so the E-utilities client can retry the batch. ``parse_each_record(body)`` is for a complete answer
that still does not parse (one hostile or broken record among 200): it parses every record on its own,
so the healthy ones are kept and the broken one becomes a ``ParseProblem`` with its PMID and reason.

Parsing is safe for hostile input: entities are not resolved (no billion-laughs expansion, no external
files), no DTD is loaded, no network is used and libxml2's huge-tree limits stay on.
"""

from __future__ import annotations

import functools
import gzip
import http.client
import io
import re
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from flows.errors import LitgradeError
from flows.ids import is_pmid
from flows.pubmed.dates import iso_date, pub_date
from flows.pubmed.records import (
    AbstractSection,
    Article,
    Author,
    Chemical,
    CommentCorrection,
    DeletedCitations,
    Grant,
    Journal,
    MeshHeading,
    MeshQualifier,
    OtherAbstract,
    ParseEvent,
    ParseProblem,
    PubDate,
    PublicationType,
    builder,
)
from flows.pubmed.text import clean, plain, render

__all__ = ["PubmedXMLError", "parse", "parse_articles", "parse_each_record"]

Source = str | Path | bytes | BinaryIO

_RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle", "MedlineCitation", "DeleteCitation")
_ROOTS = frozenset({"PubmedArticleSet", "MedlineCitationSet", "PubmedBookArticleSet"})
_GZIP_MAGIC = b"\x1f\x8b"


class PubmedXMLError(LitgradeError):
    """The XML did not parse to its end as PubMed XML; retrying the request may help."""


# -- input ---------------------------------------------------------------------------------------


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read from its head put back (to sniff gzip without seeking)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _describe(source: Source) -> str:
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes | bytearray):
        return f"<{len(source)} bytes>"
    name = getattr(source, "name", None) or getattr(source, "url", None)
    return str(name) if name else f"<{type(source).__name__} stream>"


def _read_head(stream: BinaryIO, size: int) -> bytes:
    """The first `size` bytes (fewer only at EOF): one read() of a socket may return less."""
    head = stream.read(size)
    while isinstance(head, bytes) and 0 < len(head) < size:
        more = stream.read(size - len(head))
        if not more:
            break
        head += more
    return head


def _open(source: Source) -> tuple[BinaryIO, bool]:
    """A binary stream of XML bytes (gunzipped when needed) and whether we must close it."""
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            with path.open("rb") as probe:
                head = probe.read(2)
            # Handed to the caller's generator, which closes it in its finally block.
            handle: BinaryIO = gzip.open(path, "rb") if head == _GZIP_MAGIC else path.open("rb")  # type: ignore[assignment]  # noqa: SIM115
        except OSError as exc:
            raise PubmedXMLError(f"{path}: cannot read PubMed XML ({exc.strerror or exc})") from exc
        return handle, True
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
        if data[:2] == _GZIP_MAGIC:
            return gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"), True  # type: ignore[return-value]
        return io.BytesIO(data), True
    head = _read_head(source, 2)
    if isinstance(head, str):
        raise PubmedXMLError(f"{_describe(source)}: open the PubMed XML in binary mode ('rb')")
    stream: BinaryIO = _Prefixed(head, source)  # type: ignore[assignment]
    if head == _GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
    return stream, False


# -- parsing -------------------------------------------------------------------------------------


def parse(source: Source) -> Iterator[ParseEvent]:
    """Every record event in a PubMed XML document, in document order (see module doc)."""
    name = _describe(source)
    skip = 0
    if isinstance(source, str | Path | bytes | bytearray):
        # A source that can be read again takes the batched fast path; anything it does not vouch for
        # is handed to the streaming parser, which starts over and skips the events already yielded.
        done = yield from _parse_batched(source)
        if done is None:
            return
        skip = done
    yield from _parse_streaming(source, name, skip)


def _parser() -> etree.XMLParser:
    """The streaming parser's safety settings (no entities, no DTD, no network, size limits on)."""
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _parse_streaming(source: Source, name: str, skip: int = 0) -> Iterator[ParseEvent]:
    """The reference parse: lxml iterparse over the whole document; the first `skip` events unbuilt."""
    stream, owned = _open(source)
    seen = 0
    try:
        context = etree.iterparse(
            stream,
            events=("end",),
            tag=_RECORD_TAGS,
            resolve_entities=False,
            load_dtd=False,
            dtd_validation=False,
            no_network=True,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        checked = False
        try:
            for _, elem in context:
                if not checked:
                    _check_root(elem.getroottree().getroot(), name)
                    checked = True
                parent = elem.getparent()
                tag = elem.tag
                if tag == "MedlineCitation" and parent is not None and parent.tag != "MedlineCitationSet":
                    continue  # wrapped in PubmedArticle: built when that ends
                if seen >= skip:
                    yield _event(elem)
                seen += 1
                # Free what was built: the record, and anything before it still hanging off the root.
                elem.clear(keep_tail=False)
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
            if not checked:
                _check_root(context.root, name)
        except etree.XMLSyntaxError as exc:
            raise PubmedXMLError(
                f"{name}: not complete PubMed XML after {seen} record(s): {exc.msg or exc}; "
                "the response was cut short or is not XML — retry the request"
            ) from exc
        except (OSError, EOFError, zlib.error, http.client.HTTPException) as exc:
            raise PubmedXMLError(
                f"{name}: could not read PubMed XML after {seen} record(s): {exc}; "
                "the stream broke off or its gzip data is damaged — retry or re-download it"
            ) from exc
    finally:
        if owned:
            stream.close()


def _event(elem: etree._Element) -> ParseEvent:
    if elem.tag == "DeleteCitation":
        return DeletedCitations(tuple(p for p in (clean(e.text) for e in elem.iterfind("PMID")) if p))
    return _record(elem)


# -- the batched fast path -----------------------------------------------------------------------
# iterparse's events cost: lxml hooks libxml2's start and end callbacks for every element (~220 a
# record) to find the few it reports, and each hook takes and drops the GIL; under callgrind that is
# about a quarter of the parse's instructions. The fast path finds the record ends in the bytes instead
# (a C substring search) and has libxml2 parse a few whole records at a time with no events, wrapped in
# the document's own prolog and root start tag.
#
# It only handles what it can show equal to the streaming parse: a plain prolog (an XML declaration in
# UTF-8 or ASCII, a DOCTYPE without an internal subset, nothing else) and a PubmedArticleSet or
# PubmedBookArticleSet root. Each batch starts right after the root start tag or right after a record's
# end tag and is kept only if it parses on its own as the root's content: then the batches, joined, are
# the document's content and give the same elements. Anything else (a parse error, a damaged stream,
# records nested oddly, anything but whitespace after the root, a MedlineCitationSet) falls back.

_BATCH_BYTES = 1 << 18  # ~20 records: per-parse overhead small, the tree still small in cache
_HEAD = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:<\?xml(?P<decl>[^<>?]*)\?>)?\s*(?:<!DOCTYPE[^<>\[\]]*>)?\s*"
    rb"<(?P<root>PubmedArticleSet|PubmedBookArticleSet)(?:\s[^<>]*)?>\s*"
)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]*)["']""")
_ASCII_COMPATIBLE = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_FIRST_RECORD = re.compile(rb"<(?:PubmedArticle|PubmedBookArticle|DeleteCitation)[\s/>]")
_RECORD_ENDS = (b"</PubmedArticle>", b"</PubmedBookArticle>", b"</DeleteCitation>")
_BATCH_RECORDS = frozenset({"PubmedArticle", "PubmedBookArticle", "DeleteCitation"})
# Elements that would make the streaming parse yield something other than one event per record.
_NESTED_EVENTS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation", "MedlineCitationSet")
_XML_SPACE = b" \t\r\n"  # not bytes.strip()'s default, which also takes \f and \v


def _head(data: bytes) -> tuple[bytes, bytes] | None:
    """(prolog and root start tag, the root's end tag) of a plain PubmedArticleSet head, else None."""
    found = _HEAD.fullmatch(data)
    if found is None:
        return None
    encoding = _ENCODING.search(found.group("decl") or b"")
    if encoding is not None and encoding.group(1).lower() not in _ASCII_COMPATIBLE:
        return None  # the byte searches for tags assume ASCII-compatible bytes
    return data, b"</" + found.group("root") + b">"


def _last_record_end(buffer: bytes, start: int) -> int:
    """The offset just past the last record end tag in buffer[start:], or -1.

    Searched in a window at the buffer's end that doubles until a tag is found: the end tags a
    document lacks (most have no book and no deletion) were otherwise scanned for over the whole
    buffer, backwards (bytes.rfind has no skip table): 4% of a bulk parse. A tag found in the window
    ends after every tag outside it (the tags hold no "<" past their first byte, so none overlap), so
    the window's last is the buffer's."""
    window = 1 << 15
    while True:
        low = max(start, len(buffer) - window)
        best = -1
        for end_tag in _RECORD_ENDS:
            at = buffer.rfind(end_tag, low)
            if at >= 0:
                best = max(best, at + len(end_tag))
        if best >= 0 or low == start:
            return best
        window <<= 1


def _batch_records(root: etree._Element) -> list[etree._Element] | None:
    """The record elements of one parsed batch, or None if they would not stream as one event each."""
    records = []
    for child in root:
        if not isinstance(child.tag, str):
            continue
        nested = list(child.iter(_NESTED_EVENTS))
        if not nested:
            continue  # no event from it in the streaming parse either (e.g. a stray MedlineCitation)
        if len(nested) != 1 or nested[0] is not child or child.tag not in _BATCH_RECORDS:
            return None
        records.append(child)
    return records


def _parse_batched(source: Source) -> Generator[ParseEvent, None, int | None]:
    """The fast path's events; returns None when it read the whole document, else how many it yielded
    before handing over (the streaming parse then skips those)."""
    try:
        stream, _ = _open(source)
    except PubmedXMLError:
        return 0  # the streaming parse reports it, in its own words
    seen = 0
    parser = _parser()
    try:
        buffer = b""
        while (first := _FIRST_RECORD.search(buffer)) is None:
            more = stream.read(_BATCH_BYTES)
            if not more or len(buffer) > _BATCH_BYTES:
                return 0  # no record near the start: not a plain PubmedArticleSet
            buffer += more
        head = _head(buffer[: first.start()])
        if head is None:
            return 0
        prolog, closing = head
        pos, eof = first.start(), False
        while True:
            if not eof and len(buffer) - pos < _BATCH_BYTES:
                more = stream.read(_BATCH_BYTES)
                eof = not more
                buffer = buffer[pos:] + more
                pos = 0
                continue
            cut = _last_record_end(buffer, pos)
            if cut < 0:
                if not eof:  # a record longer than a batch
                    more = stream.read(_BATCH_BYTES)
                    eof = not more
                    buffer += more
                    continue
                # Only the root's end tag and XML whitespace may follow the last record.
                return None if buffer[pos:].strip(_XML_SPACE) == closing else seen
            try:
                root = etree.fromstring(prolog + buffer[pos:cut] + closing, parser)
            except etree.XMLSyntaxError:
                return seen
            records = _batch_records(root)
            if records is None:
                return seen
            for elem in records:
                yield _event(elem)
                seen += 1
            del root, records
            pos = cut
    except (OSError, EOFError, zlib.error, http.client.HTTPException):
        return seen
    finally:
        stream.close()


_RECORD_START = re.compile(rb"<(?:PubmedArticle|PubmedBookArticle)[\s>]")
_SET_END = re.compile(rb"</PubmedArticleSet>\s*\Z")
_PMID_TEXT = re.compile(rb"<PMID[^>]{0,100}>\s*([0-9]{1,12})\s*</PMID>")


def parse_each_record(body: bytes) -> list[ParseEvent] | None:
    """Every record of a complete PubmedArticleSet parsed on its own; None if `body` is not complete.

    For an answer that arrived whole (it ends with ``</PubmedArticleSet>``) yet does not parse: the
    records are cut apart at their start tags, each is parsed inside the document's own head (same
    XML declaration and encoding), and one that still fails is a ParseProblem naming its PMID (the
    first <PMID> in its bytes, if any) and libxml2's reason. An answer cut short returns None: asking
    again may help there, and a guess at where it broke would not.
    """
    if not _SET_END.search(body[-200:]):
        return None
    starts = [m.start() for m in _RECORD_START.finditer(body)]
    if not starts:
        return None
    head, end = body[: starts[0]], _SET_END.search(body, starts[-1])
    stop = end.start() if end else len(body)
    events: list[ParseEvent] = []
    for i, start in enumerate(starts):
        chunk = body[start : starts[i + 1] if i + 1 < len(starts) else stop]
        try:
            events.extend(parse(head + chunk + b"</PubmedArticleSet>"))
        except PubmedXMLError as exc:
            found = _PMID_TEXT.search(chunk)
            pmid = found.group(1).decode("ascii") if found else None
            cause = exc.__cause__
            raw = (getattr(cause, "msg", None) or str(cause)) if cause is not None else str(exc)
            detail = clean(raw)[:200]
            label = f"PMID {pmid}" if pmid else f"record {i + 1} (no readable PMID)"
            events.append(ParseProblem(pmid, f"{label} is not well-formed XML ({detail}); skipped"))
    return events


def _check_root(root: etree._Element | None, name: str) -> None:
    if root is None:
        raise PubmedXMLError(f"{name}: empty document, expected PubMed XML — retry the request")
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag in _ROOTS:
        return
    error = root.findtext(".//ERROR")
    detail = f"E-utilities said: {clean(error)}" if error else f"root element is <{tag}>"
    raise PubmedXMLError(f"{name}: not PubMed XML ({detail}); check the request and retry")


def parse_articles(source: Source) -> list[Article]:
    """Just the articles (deletions and unreadable records dropped)."""
    return [event for event in parse(source) if isinstance(event, Article)]


def _record(elem: etree._Element) -> Article | ParseProblem:
    tag = elem.tag
    top = _index(elem)
    if tag == "PubmedBookArticle":
        main = top.get("BookDocument")
    else:
        main = elem if tag == "MedlineCitation" else top.get("MedlineCitation")
    # One pass over the record's main element serves the PMID check and the builders.
    groups = _group(main) if main is not None else {}
    pmid_el = _first(groups, "PMID")
    pmid = (clean(pmid_el.text) or "") if pmid_el is not None else ""
    if not is_pmid(pmid):  # whole-match: no leading zeros, no non-ASCII digits
        return ParseProblem(pmid or None, f"{tag} without a usable PMID ({pmid or 'missing'}); skipped")
    assert main is not None
    try:
        if tag == "PubmedBookArticle":
            return _book(top, main, groups, pmid)
        return _citation(main, groups, top.get("PubmedData"), pmid)
    except _Unusable as exc:
        return ParseProblem(pmid, str(exc))
    except (ValueError, TypeError) as exc:
        return ParseProblem(pmid, f"{tag} {pmid} could not be read: {exc}; skipped")


class _Unusable(Exception):
    """A record without what litgrade needs (title); reported as a ParseProblem."""


# -- field builders ------------------------------------------------------------------------------
# Records are built with records.builder: the same frozen classes, constructed ~3x faster.
_AbstractSection = builder(AbstractSection)
_OtherAbstract = builder(OtherAbstract)
_Author = builder(Author)
_PublicationType = builder(PublicationType)
_MeshQualifier = builder(MeshQualifier)
_MeshHeading = builder(MeshHeading)
_Chemical = builder(Chemical)
_Grant = builder(Grant)
_CommentCorrection = builder(CommentCorrection)
_Journal = builder(Journal)
_Article = builder(Article)
# lxml's find()/findtext() evaluate a path in Python on every call; builders run for every record of
# 30 million, so each element's children are walked once into a tag → first-child index instead.

Index = dict[str, etree._Element]


def _index(el: etree._Element | None) -> Index:
    out: Index = {}
    if el is not None:
        for child in el:
            tag = child.tag
            if tag not in out and isinstance(tag, str):
                out[tag] = child
    return out


Groups = dict[str, list[etree._Element]]


def _group(el: etree._Element) -> Groups:
    """Children by tag, in order, from one pass (for elements with repeated children)."""
    out: Groups = {}
    for child in el:
        tag = child.tag
        if tag in out:
            out[tag].append(child)
        elif isinstance(tag, str):
            out[tag] = [child]
    return out


def _first(groups: Groups, tag: str) -> etree._Element | None:
    found = groups.get(tag)
    return found[0] if found else None


def _t(index: Index, tag: str) -> str | None:
    el = index.get(tag)
    return (clean(el.text) or None) if el is not None else None


def _kids(el: etree._Element | None, tag: str) -> list[etree._Element]:
    # A plain loop beats iterchildren(tag), whose tag matcher costs more than these short lists.
    return [] if el is None else [child for child in el if child.tag == tag]


def _version(pmid_el: etree._Element | None) -> int:
    raw = pmid_el.get("Version", "1") if pmid_el is not None else "1"
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def _sections(abstract: etree._Element | None) -> tuple[AbstractSection, ...]:
    if abstract is None:
        return ()
    out = []
    for part in abstract:
        if part.tag != "AbstractText":
            continue
        text, html = render(part)
        label = clean(part.get("Label")) or None
        if text or label:
            out.append(_AbstractSection(text, html, label, part.get("NlmCategory")))
    return tuple(out)


def _other_abstracts(items: list[etree._Element]) -> tuple[OtherAbstract, ...]:
    out = []
    for other in items:
        sections = _sections(other)
        if sections:
            out.append(_OtherAbstract(sections, type=other.get("Type"), language=other.get("Language")))
    return tuple(out)


def _orcid(raw: str | None) -> str | None:
    """ "https://orcid.org/0000-0002-1825-0097", "http://orcid.org/…" or bare → the bare id."""
    value = clean(raw).rstrip("/").rpartition("/")[2]
    return value or None


def _authors(author_list: etree._Element | None) -> tuple[Author, ...]:
    if author_list is None:
        return ()
    out = []
    # One pass over each author's children with plain locals, and clean() only on the parts present:
    # this runs for every author of every record (about 7 a record).
    for author in author_list:
        if author.tag != "Author":
            continue
        last = fore = first = initials = suffix = orcid = group = None
        affiliations: list[str] = []
        for child in author:
            tag = child.tag
            if tag == "LastName":
                last = child.text
            elif tag == "ForeName":
                fore = child.text
            elif tag == "Initials":
                initials = child.text
            elif tag == "AffiliationInfo":
                for affiliation in child:
                    if affiliation.tag == "Affiliation":
                        # Most affiliations are text only: clean() them without plain()'s call.
                        text = clean(affiliation.text) if len(affiliation) == 0 else plain(affiliation)
                        if text:
                            affiliations.append(text)
            elif tag == "Identifier":
                if orcid is None and (child.get("Source") or "").upper() == "ORCID":
                    orcid = _orcid(child.text)
            elif tag == "Suffix":
                suffix = child.text
            elif tag == "CollectiveName":
                group = child  # the last one counts, as before
            elif tag == "Affiliation":  # pre-2015 DTDs
                if text := plain(child):
                    affiliations.append(text)
            elif tag == "FirstName":
                first = child.text
        last = clean(last) or None
        fore = clean(fore) or clean(first) or None
        collective = plain(group) or None
        if last or fore or collective:
            out.append(
                _Author(
                    last,
                    fore,
                    clean(initials) or None,
                    clean(suffix) or None,
                    collective,
                    orcid,
                    tuple(affiliations),
                )
            )
    return tuple(out)


# Dates repeat across records (a bulk file's DateRevised values span a few hundred days, issue dates
# are mostly year and month), and their parts are tiny: so each distinct set of parts is normalised
# once. The caches are bounded (flat memory) and hold frozen values, safe to share between records.
DateParts = tuple[tuple[str, str | None], ...]


def _date_parts(date: etree._Element) -> DateParts:
    return tuple([(tag, child.text) for child in date if isinstance(tag := child.tag, str)])


@functools.lru_cache(maxsize=4096)
def _pub_date_of(parts: DateParts) -> PubDate:
    found = dict(parts)  # the last of a repeated part wins, as before
    return pub_date(
        year=found.get("Year"),
        month=found.get("Month"),
        day=found.get("Day"),
        season=found.get("Season"),
        medline_date=found.get("MedlineDate"),
    )


@functools.lru_cache(maxsize=4096)
def _iso_of(parts: DateParts) -> str | None:
    found = dict(parts)
    return iso_date(found.get("Year"), found.get("Month"), found.get("Day"))


def _pub_date(date: etree._Element | None) -> PubDate:
    return PubDate() if date is None else _pub_date_of(_date_parts(date))


def _iso(date: etree._Element | None) -> str | None:
    return None if date is None else _iso_of(_date_parts(date))


def _pages(pagination: etree._Element | None) -> str | None:
    if pagination is None:
        return None
    medline = start = end = None
    for child in pagination:  # the first of each, as an index of the children would give
        tag = child.tag
        if tag == "MedlinePgn":
            if medline is None:
                medline = clean(child.text) or ""
        elif tag == "StartPage":
            if start is None:
                start = clean(child.text) or ""
        elif tag == "EndPage" and end is None:
            end = clean(child.text) or ""
    if medline:
        return medline
    return f"{start}-{end}" if start and end else (start or None)


def _ids(*lists: etree._Element | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for id_list in lists:
        if id_list is None:
            continue
        for ident in id_list:
            if ident.tag != "ArticleId":
                continue
            kind = ident.get("IdType")
            if kind and (value := clean(ident.text)):
                found.setdefault(kind.lower(), value)
    return found


def _elocations(items: list[etree._Element]) -> dict[str, str]:
    found: dict[str, str] = {}
    for loc in items:
        if loc.get("ValidYN", "Y") != "Y":
            continue
        kind = (loc.get("EIdType") or "").lower()
        value = clean(loc.text)
        if kind and value:
            found.setdefault(kind, value)
    return found


def _pmc(value: str | None) -> str | None:
    if not value:
        return None
    return value if value.upper().startswith("PMC") else f"PMC{value}"


def _publication_types(items: list[etree._Element]) -> tuple[PublicationType, ...]:
    return tuple(_PublicationType(name=name, ui=p.get("UI")) for p in items if (name := clean(p.text)))


# MeSH is a controlled vocabulary: a file's ~15 headings a record are mostly the same few thousand
# (Humans, Female, Adult...). So a heading's raw parts are read into a key and each distinct key is
# built once; the frozen headings are shared. Bounded: emptied when full, so memory stays flat.
_MESH_CACHE: dict[tuple[str | None, ...], MeshHeading | None] = {}
_MESH_CACHE_SIZE = 16384


def _mesh(heading_list: etree._Element | None) -> tuple[MeshHeading, ...]:
    if heading_list is None:
        return ()
    out = []
    cache = _MESH_CACHE
    for heading in heading_list:
        if heading.tag != "MeshHeading":
            continue
        # (descriptor text, UI, MajorTopicYN) of the first DescriptorName, then each qualifier's three.
        key: list[str | None] = [None, None, None]
        described = False
        for child in heading:
            tag = child.tag  # read once: each .tag read builds a new str
            if tag == "QualifierName":
                key += (child.text, child.get("UI"), child.get("MajorTopicYN"))
            elif tag == "DescriptorName" and not described:
                key[0:3] = child.text, child.get("UI"), child.get("MajorTopicYN")
                described = True
        frozen = tuple(key) if described else None
        if frozen is None:
            continue
        item = cache.get(frozen, _UNBUILT)
        if item is _UNBUILT:
            if len(cache) >= _MESH_CACHE_SIZE:
                cache.clear()
            item = cache[frozen] = _mesh_heading(frozen)
        if item is not None:
            out.append(item)
    return tuple(out)


_UNBUILT: Any = object()


def _mesh_heading(key: tuple[str | None, ...]) -> MeshHeading | None:
    """The heading a key of raw parts stands for; None without a descriptor name."""
    name = clean(key[0])
    if not name:
        return None
    qualifiers = tuple(
        _MeshQualifier(q_name, key[i + 1], key[i + 2] == "Y")
        for i in range(3, len(key), 3)
        if (q_name := clean(key[i]))
    )
    return _MeshHeading(name, key[1], key[2] == "Y", qualifiers)


def _chemicals(chemical_list: etree._Element | None) -> tuple[Chemical, ...]:
    if chemical_list is None:
        return ()
    out = []
    for chem in chemical_list:
        if chem.tag != "Chemical":
            continue
        substance = registry = None
        for child in chem:  # the first of each, as an index of the children would give
            tag = child.tag
            if tag == "NameOfSubstance":
                if substance is None:
                    substance = child
            elif tag == "RegistryNumber" and registry is None:
                registry = child
        name = clean(substance.text) if substance is not None else ""
        if substance is not None and name:
            number = (clean(registry.text) or None) if registry is not None else None
            out.append(_Chemical(name, substance.get("UI"), number))
    return tuple(out)


def _keywords(keyword_lists: list[etree._Element]) -> tuple[str, ...]:
    return tuple(
        word
        for keyword_list in keyword_lists
        for keyword in _kids(keyword_list, "Keyword")
        if (word := plain(keyword))
    )


def _languages(items: list[etree._Element]) -> tuple[str, ...]:
    return tuple(v for e in items if (v := clean(e.text)))


def _grants(grant_list: etree._Element | None) -> tuple[Grant, ...]:
    if grant_list is None:
        return ()
    out = []
    for grant in grant_list:
        if grant.tag != "Grant":
            continue
        grant_id = agency = country = None
        for child in grant:  # the first of each (an empty one included, as an index would give)
            tag = child.tag
            if tag == "GrantID":
                if grant_id is None:
                    grant_id = child.text or ""
            elif tag == "Agency":
                if agency is None:
                    agency = child.text or ""
            elif tag == "Country" and country is None:
                country = child.text or ""
        item = _Grant(
            grant_id=clean(grant_id) or None, agency=clean(agency) or None, country=clean(country) or None
        )
        if item.grant_id or item.agency:
            out.append(item)
    return tuple(out)


def _comments(blocks: list[etree._Element]) -> tuple[CommentCorrection, ...]:
    out = []
    for block in blocks:
        for comment in block:
            if comment.tag != "CommentsCorrections" or not (ref_type := comment.get("RefType")):
                continue
            pmid = source = None
            for child in comment:
                tag = child.tag
                if tag == "RefSource":
                    if source is None:
                        source = clean(child.text) or None
                elif tag == "PMID" and pmid is None:
                    pmid = clean(child.text) or None
            out.append(_CommentCorrection(ref_type, pmid, source))
    return tuple(out)


def _title(pmid: str, *candidates: etree._Element | None) -> tuple[str, str]:
    """The first non-empty of ArticleTitle, VernacularTitle (and BookTitle for books)."""
    for candidate in candidates:
        text, html = render(candidate)
        if text:
            return text, html
    raise _Unusable(f"PMID {pmid} has no title; skipped")


def _citation(
    citation: etree._Element, cit: Groups, pubmed_data: etree._Element | None, pmid: str
) -> Article:
    article = _first(cit, "Article")
    if article is None:
        raise _Unusable(f"PMID {pmid} has no Article element; skipped")
    art = _group(article)
    vernacular = _first(art, "VernacularTitle")
    title, title_html = _title(pmid, _first(art, "ArticleTitle"), vernacular)
    journal = _index(_first(art, "Journal"))
    issue = _index(journal.get("JournalIssue"))
    abstract = _first(art, "Abstract")
    ids = _ids(_index(pubmed_data).get("ArticleIdList"))
    locations = _elocations(art.get("ELocationID", []))
    return _Article(
        pmid=pmid,
        version=_version(_first(cit, "PMID")),
        title=title,
        title_html=title_html,
        vernacular_title=plain(vernacular) or None,
        abstract=_sections(abstract),
        other_abstracts=_other_abstracts(cit.get("OtherAbstract", [])),
        copyright=_t(_index(abstract), "CopyrightInformation"),
        authors=_authors(_first(art, "AuthorList")),
        journal=_Journal(
            title=_t(journal, "Title"),
            iso_abbreviation=_t(journal, "ISOAbbreviation"),
            issn=_t(journal, "ISSN"),
            volume=_t(issue, "Volume"),
            issue=_t(issue, "Issue"),
            pages=_pages(_first(art, "Pagination")),
        ),
        pub_date=_pub_date(issue.get("PubDate")),
        article_date=_iso(_first(art, "ArticleDate")),
        date_revised=_iso(_first(cit, "DateRevised")),
        doi=ids.get("doi") or locations.get("doi"),
        pmc=_pmc(ids.get("pmc")),
        pii=ids.get("pii") or locations.get("pii"),
        publication_types=_publication_types(_kids(_first(art, "PublicationTypeList"), "PublicationType")),
        mesh=_mesh(_first(cit, "MeshHeadingList")),
        chemicals=_chemicals(_first(cit, "ChemicalList")),
        keywords=_keywords(cit.get("KeywordList", [])),
        languages=_languages(art.get("Language", [])),
        grants=_grants(_first(art, "GrantList")),
        status=citation.get("Status"),
        comments_corrections=_comments(cit.get("CommentsCorrectionsList", [])),
    )


def _book(top: Index, doc: etree._Element, groups: Groups, pmid: str) -> Article:
    index = {tag: children[0] for tag, children in groups.items()}
    book_el = index.get("Book")
    book = _index(book_el)
    book_title = book.get("BookTitle")
    vernacular = index.get("VernacularTitle")
    title, title_html = _title(pmid, index.get("ArticleTitle"), vernacular, book_title)
    # Editors edit the book; they did not write this chapter.
    author_lists = [*_kids(doc, "AuthorList"), *_kids(book_el, "AuthorList")]
    authors = next((lst for lst in author_lists if lst.get("Type", "authors") != "editors"), None)
    abstract = index.get("Abstract")
    ids = _ids(index.get("ArticleIdList"), _index(top.get("PubmedBookData")).get("ArticleIdList"))
    locations = _elocations(_kids(doc, "ELocationID"))
    return _Article(
        pmid=pmid,
        version=_version(index.get("PMID")),
        title=title,
        title_html=title_html,
        vernacular_title=plain(vernacular) or None,
        abstract=_sections(abstract),
        copyright=_t(_index(abstract), "CopyrightInformation"),
        authors=_authors(authors),
        journal=_Journal(
            title=plain(book_title) or None, volume=_t(book, "Volume"), pages=_pages(index.get("Pagination"))
        ),
        pub_date=_pub_date(book.get("PubDate")),
        article_date=_iso(index.get("ContributionDate")),
        date_revised=_iso(index.get("DateRevised")),
        doi=ids.get("doi") or locations.get("doi"),
        pmc=_pmc(ids.get("pmc")),
        pii=ids.get("pii") or locations.get("pii"),
        publication_types=_publication_types(_kids(doc, "PublicationType")),
        keywords=_keywords(_kids(doc, "KeywordList")),
        languages=_languages(_kids(doc, "Language")),
        grants=_grants(index.get("GrantList")),
        is_book=True,
    )
