"""What the stand-in knows: PubMed records, the queries that find them, and each record's entry date.

Real records come from efetch files (a PubmedArticleSet split into its records); bulk queries are
synthetic — minimal but valid PubmedArticle records generated on demand, so a 25,000-hit query costs
a list of ints, not 25,000 XML strings.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

_SAFE = dict(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DEFAULT_EDAT = dt.date(2000, 1, 1)


@dataclass(slots=True)
class QueryEntry:
    pmids: list[str]
    translation: str
    errors: dict[str, list[str]] = field(default_factory=dict)  # ErrorList children
    warnings: dict[str, list[str]] = field(default_factory=dict)  # WarningList children


@dataclass(slots=True)
class Corpus:
    records: dict[str, str] = field(default_factory=dict)  # pmid -> <PubmedArticle> XML
    queries: dict[str, QueryEntry] = field(default_factory=dict)  # exact term -> hits
    edat: dict[str, dt.date] = field(default_factory=dict)  # pmid -> entry date
    synthetic: dict[str, str] = field(default_factory=dict)  # pmid -> term it was generated for

    def add_record(self, pmid: str, xml: str, edat: dt.date | None = None) -> None:
        self.records[pmid] = xml
        self.edat[pmid] = edat or self.edat.get(pmid, DEFAULT_EDAT)

    def add_query(
        self,
        term: str,
        pmids: Sequence[str],
        *,
        translation: str | None = None,
        errors: dict[str, list[str]] | None = None,
        warnings: dict[str, list[str]] | None = None,
    ) -> None:
        """Register `term`: ESearch answers it with `pmids` (in this order, filtered by date window)."""
        self.queries[term] = QueryEntry(
            list(pmids), translation or f"{term}[All Fields]", dict(errors or {}), dict(warnings or {})
        )

    def add_synthetic_query(
        self,
        term: str,
        count: int,
        *,
        first_pmid: int = 50_000_000,
        start: dt.date = dt.date(2015, 1, 1),
        end: dt.date = dt.date(2024, 12, 31),
    ) -> list[str]:
        """`count` generated records matching `term`, entry dates spread evenly over [start, end]."""
        span = (end - start).days
        pmids = [str(first_pmid + i) for i in range(count)]
        for i, pmid in enumerate(pmids):
            self.edat[pmid] = start + dt.timedelta(days=(i * span) // max(count - 1, 1))
            self.synthetic[pmid] = term
        # ESearch lists newest first, as PubMed's default sort does.
        self.add_query(term, list(reversed(pmids)))
        return pmids

    def record(self, pmid: str) -> str | None:
        xml = self.records.get(pmid)
        if xml is None and pmid in self.synthetic:
            xml = synthetic_record(pmid, self.synthetic[pmid], self.edat[pmid])
        return xml

    def __contains__(self, pmid: object) -> bool:
        return pmid in self.records or pmid in self.synthetic

    def __len__(self) -> int:
        return len(self.records) + len(self.synthetic)


def synthetic_record(pmid: str, term: str, edat: dt.date) -> str:
    y, m, d = edat.year, edat.month, edat.day
    return (
        '<PubmedArticle><MedlineCitation Status="PubMed-not-MEDLINE" Owner="NLM">'
        f'<PMID Version="1">{pmid}</PMID>'
        '<Article PubModel="Print"><Journal><ISSN IssnType="Print">0000-0000</ISSN>'
        f'<JournalIssue CitedMedium="Print"><Volume>{y - 1990}</Volume><PubDate><Year>{y}</Year>'
        f"<Month>{_MONTHS[m - 1]}</Month></PubDate></JournalIssue>"
        "<Title>Journal of Synthetic Records</Title><ISOAbbreviation>J Synth Rec</ISOAbbreviation>"
        f"</Journal><ArticleTitle>Synthetic study {pmid} on {escape(term)}.</ArticleTitle>"
        f"<Abstract><AbstractText>Generated record {pmid} for stand-in tests.</AbstractText></Abstract>"
        '<AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Stand</LastName><ForeName>In</ForeName>'
        "<Initials>I</Initials></Author></AuthorList><Language>eng</Language>"
        '<PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType>'
        "</PublicationTypeList></Article><MedlineJournalInfo><Country>United States</Country>"
        "<MedlineTA>J Synth Rec</MedlineTA><NlmUniqueID>0000000</NlmUniqueID></MedlineJournalInfo>"
        '</MedlineCitation><PubmedData><History><PubMedPubDate PubStatus="entrez">'
        f"<Year>{y}</Year><Month>{m}</Month><Day>{d}</Day></PubMedPubDate></History>"
        "<PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
        f'<ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>'
    )


def _entry_date(record: etree._Element) -> dt.date:
    for status in ("entrez", "pubmed"):
        node = record.find(f".//History/PubMedPubDate[@PubStatus='{status}']")
        if node is not None:
            try:
                return dt.date(
                    int(node.findtext("Year") or 0),
                    int(node.findtext("Month") or 1),
                    int(node.findtext("Day") or 1),
                )
            except ValueError:
                pass
    year = record.findtext(".//PubDate/Year")
    return dt.date(int(year), 1, 1) if year and year.isdigit() else DEFAULT_EDAT


def split_efetch(path: Path) -> list[tuple[str, str, dt.date]]:
    """(pmid, record XML, entry date) for each PubmedArticle / PubmedBookArticle of an efetch file."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    root = etree.fromstring(raw, etree.XMLParser(**_SAFE))
    out = []
    for rec in root:
        if not isinstance(rec.tag, str) or rec.tag not in ("PubmedArticle", "PubmedBookArticle"):
            continue
        pmid = rec.findtext("MedlineCitation/PMID") or rec.findtext("BookDocument/PMID")
        if pmid:
            out.append((pmid.strip(), etree.tostring(rec, encoding="unicode"), _entry_date(rec)))
    return out


def load_corpus(paths: Iterable[Path], corpus: Corpus | None = None) -> Corpus:
    """A corpus holding every record of the given efetch files (later files win on a repeated PMID)."""
    corpus = corpus or Corpus()
    for path in paths:
        for pmid, xml, edat in split_efetch(Path(path)):
            corpus.add_record(pmid, xml, edat)
    return corpus


def load_corpus_dir(directory: Path) -> Corpus:
    """Every efetch-looking XML file in `directory` (`*efetch*.xml[.gz]`); each file's PMIDs also
    become a query named after the file stem, so `python -m tests.standin` has something to search."""
    corpus = Corpus()
    files = sorted(p for p in Path(directory).iterdir() if "efetch" in p.name and ".xml" in p.name)
    for path in files:
        try:
            rows = split_efetch(path)
        except etree.XMLSyntaxError:
            continue
        for pmid, xml, edat in rows:
            corpus.add_record(pmid, xml, edat)
        corpus.add_query(path.name.split(".")[0], [r[0] for r in rows])
    return corpus
