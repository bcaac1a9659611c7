"""Turn the k2-corpus (real PubMed records + project-written summaries) into the demo's PubMed XML.

Run as ``python -m flows.pipeline.k2_snapshot``. The output, curated/k2-muscle/snapshot/k2-snapshot.xml, is
shipped data: the demo builds its mirror from it, so it must be byte-stable (records sorted by PMID,
no clock, no environment in the bytes).

Only what the corpus states goes in. Its summaries are not abstracts, so each one sits in a single
AbstractText labelled as a summary written for the demo; fields the corpus does not hold (authors,
DOIs, entry dates, MeSH UIs) are left out rather than invented. Retraction status in the XML comes from
the corpus's publication types only, never from the summaries' prose; the Retraction Watch-format CSV
shipped beside the snapshot (written for the demo) is ingested into the demo's store by `litgrade demo`,
as `litgrade retractions ingest` would, so reports name it as the source of what it flags.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from flows import config
from flows.atomic import write_atomic
from flows.errors import InputError
from flows.ids import is_pmid


def corpus_file() -> Path:
    """The k2-corpus beside the checkout (../shared), where this build tool is run from."""
    return config.home().parent / "shared" / "k2-corpus" / "records.jsonl"


def snapshot_file() -> Path:
    return config.curated_dir() / "k2-muscle" / "snapshot" / "k2-snapshot.xml"


def retractions_file() -> Path:
    """The Retraction Watch-format CSV shipped beside the snapshot (written for the demo, see README)."""
    return config.curated_dir() / "k2-muscle" / "snapshot" / "retraction-watch.csv"


SUMMARY_LABEL = "SUMMARY (written for the litgrade demo; not the published abstract)"
_MAJOR = "*"


@dataclass(frozen=True, slots=True)
class CorpusRecord:
    pmid: str
    title: str
    journal: str
    year: int
    publication_types: tuple[str, ...]
    mesh_terms: tuple[str, ...]
    summary: str


def _text_field(raw: dict[str, Any], name: str, where: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: field '{name}' must be a non-empty string")
    return value.strip()


def _list_field(raw: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{where}: field '{name}' must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def parse_record(raw: Any, where: str) -> CorpusRecord:
    """One corpus line → a record, or an InputError naming the line and the field."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a JSON object")
    pmid = str(raw.get("pmid", "")).strip()
    if not is_pmid(pmid):
        raise InputError(f"{where}: field 'pmid' must be a PubMed id (digits), got {pmid!r}")
    year = raw.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1800 <= year <= 2100:
        raise InputError(f"{where}: field 'year' must be a four-digit year, got {year!r}")
    return CorpusRecord(
        pmid=pmid,
        title=_text_field(raw, "title", where),
        journal=_text_field(raw, "journal", where),
        year=year,
        publication_types=_list_field(raw, "publication_types", where),
        mesh_terms=_list_field(raw, "mesh_terms", where),
        summary=_text_field(raw, "summary", where),
    )


def read_corpus(path: Path) -> list[CorpusRecord]:
    """All records of a corpus JSONL file, sorted by PMID; duplicates and bad lines are errors."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: corpus file not found (pass --corpus PATH)") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    records: dict[str, CorpusRecord] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        record = parse_record(raw, where)
        if record.pmid in records:
            raise InputError(f"{where}: PMID {record.pmid} appears twice; keep one line per PMID")
        records[record.pmid] = record
    if not records:
        raise InputError(f"{path}: no records")
    return sorted(records.values(), key=lambda r: int(r.pmid))


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _date(parent: etree._Element, tag: str, year: int, *, month_day: bool) -> None:
    element = _sub(parent, tag)
    _sub(element, "Year", f"{year:04d}")
    if month_day:
        _sub(element, "Month", "01")
        _sub(element, "Day", "01")


def _split_major(name: str) -> tuple[str, str]:
    name = name.strip()
    return name.rstrip(_MAJOR).strip(), "Y" if name.endswith(_MAJOR) else "N"


def _mesh_headings(parent: etree._Element, terms: Sequence[str]) -> None:
    """'Inflammation / drug therapy*' lines → one MeshHeading per descriptor, its qualifiers grouped
    under it as PubMed does; a trailing * marks a major topic."""
    headings: dict[str, etree._Element] = {}
    for term in terms:
        descriptor, *qualifiers = term.split("/")
        name, major = _split_major(descriptor)
        heading = headings.get(name)
        if heading is None:
            heading = headings[name] = _sub(parent, "MeshHeading")
            _sub(heading, "DescriptorName", name, MajorTopicYN=major)
        elif major == "Y":
            heading[0].set("MajorTopicYN", "Y")
        for qualifier in qualifiers:
            q_name, q_major = _split_major(qualifier)
            _sub(heading, "QualifierName", q_name, MajorTopicYN=q_major)


def record_element(record: CorpusRecord) -> etree._Element:
    """A PubmedArticle holding only what the corpus states (plus the summary, labelled as such)."""
    article_el = etree.Element("PubmedArticle")
    # MEDLINE status is not in the corpus; records whose MeSH the corpus saw are indexed, the rest
    # are marked as not known to be MEDLINE-indexed.
    citation = _sub(
        article_el,
        "MedlineCitation",
        Status="MEDLINE" if record.mesh_terms else "PubMed-not-MEDLINE",
        Owner="NLM",
    )
    _sub(citation, "PMID", record.pmid, Version="1")
    # The corpus holds no revision or entry dates: the publication year stands in (YYYY/01/01).
    _date(citation, "DateRevised", record.year, month_day=True)
    article = _sub(citation, "Article", PubModel="Print")
    journal = _sub(article, "Journal")
    issue = _sub(journal, "JournalIssue", CitedMedium="Print")
    _date(issue, "PubDate", record.year, month_day=False)
    _sub(journal, "Title", record.journal)
    _sub(journal, "ISOAbbreviation", record.journal)
    _sub(article, "ArticleTitle", record.title)
    abstract = _sub(article, "Abstract")
    _sub(abstract, "AbstractText", record.summary, Label=SUMMARY_LABEL, NlmCategory="UNASSIGNED")
    _sub(article, "Language", "eng")
    types = record.publication_types
    if types:
        type_list = _sub(article, "PublicationTypeList")
        for name in types:
            _sub(type_list, "PublicationType", name)
    info = _sub(citation, "MedlineJournalInfo")
    _sub(info, "MedlineTA", record.journal)
    if record.mesh_terms:
        _mesh_headings(_sub(citation, "MeshHeadingList"), record.mesh_terms)
    pubmed_data = _sub(article_el, "PubmedData")
    _sub(pubmed_data, "PublicationStatus", "ppublish")
    ids = _sub(pubmed_data, "ArticleIdList")
    _sub(ids, "ArticleId", record.pmid, IdType="pubmed")
    return article_el


def snapshot_bytes(records: Iterable[CorpusRecord]) -> bytes:
    """The whole PubmedArticleSet, serialised deterministically (lxml escapes every text and value)."""
    root = etree.Element("PubmedArticleSet")
    root.append(
        etree.Comment(
            " litgrade K2 demo snapshot, generated by flows/pipeline/k2_snapshot.py from k2-corpus. "
            "Each abstract is a summary written for this project, NOT the published abstract. "
            "See README.md beside this file. "
        )
    )
    for record in records:
        root.append(record_element(record))
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def build_snapshot(corpus: Path, out: Path) -> int:
    """Write the snapshot XML for `corpus` to `out`; returns the number of records."""
    records = read_corpus(corpus)
    write_atomic(out, snapshot_bytes(records).decode("utf-8"))
    return len(records)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.pipeline.k2_snapshot", description="Build the K2 demo's PubMed XML snapshot."
    )
    parser.add_argument("--corpus", type=Path, default=corpus_file(), help="k2-corpus records.jsonl")
    parser.add_argument("--out", type=Path, default=snapshot_file(), help="snapshot XML to write")
    args = parser.parse_args(argv)
    try:
        count = build_snapshot(args.corpus, args.out)
    except InputError as exc:
        parser.exit(2, f"k2_snapshot: {exc}\n")
    print(f"wrote {count} records to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
