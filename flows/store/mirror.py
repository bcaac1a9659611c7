"""The local PubMed mirror file (LITGRADE_MIRROR): records, ingest bookkeeping, and query evaluation.

One row per PMID holds the full record as JSON plus search columns prepared once at ingest, so a query
is a scan of plain string columns:

* free text (ti_n, ab_n, kw_n) is stored as normalised words padded with spaces (``" vitamin k 2 "``),
  with `` | `` between abstract sections and keywords, so a phrase is a substring ``" w1 w2 "`` that
  cannot straddle two sections, and truncation ``w*`` is the prefix ``" w"``;
* list fields (MeSH, major MeSH, publication types, languages, authors) are ``|``-delimited entries
  (``"|vitamin k 2|vitamin k 2/therapeutic use|humans|"``) so an exact heading is ``"|heading|"``.

Every user-supplied string reaches SQL as a bound parameter; the SQL text itself is assembled only from
the fixed column names below. Synonyms ORed on one field are tested as one regex alternation, so a
claim query costs one pass per field rather than one per synonym.

The tables come from the numbered migrations in schemas/sql/mirror/ (applied by `flows.store.db`);
queries are turned into SQL by `flows.store.mirror_sql`. `MirrorIndex` is what a `MirrorSource` reads.

DuckDB's FTS extension is not used: it stems words and ranks by BM25, so phrase, prefix and
exact-heading semantics would not be PubMed's.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from flows.errors import ConfigError
from flows.pubmed.codec import article_from_json, article_to_json
from flows.pubmed.dates import iso_day
from flows.pubmed.query import Node, normalize_text
from flows.pubmed.records import Article
from flows.store.db import DEFAULT_WAIT_SECONDS, MIRROR_SQL, apply_migrations, open_waiting
from flows.store.mirror_sql import to_sql

Connection = duckdb.DuckDBPyConnection

ARROW_SCHEMA = pa.schema(
    [
        ("pmid", pa.string()),
        ("version", pa.int32()),
        ("title", pa.string()),
        ("ti_n", pa.string()),
        ("ab_n", pa.string()),
        ("kw_n", pa.string()),
        ("mesh_n", pa.string()),
        ("majr_n", pa.string()),
        ("pt_n", pa.string()),
        ("la_n", pa.string()),
        ("au_n", pa.string()),
        ("pub_year", pa.int32()),
        ("pub_date", pa.date32()),
        ("epub_date", pa.date32()),
        ("entry_date", pa.date32()),
        ("date_revised", pa.date32()),
        ("record", pa.string()),
    ]
)
COLUMNS = tuple(ARROW_SCHEMA.names)


# -- connection ---------------------------------------------------------------------------------
@contextmanager
def open_mirror(
    path: Path, *, read_only: bool = False, wait_seconds: float = DEFAULT_WAIT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the mirror file; migrates it when writing. Waits out another process."""
    path = Path(path)
    if read_only and not path.exists():
        raise ConfigError(
            f"{path}: no mirror here yet; build one with `litgrade demo` (the K2 snapshot) or "
            "`litgrade mirror ingest FILE...`"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        try:
            con = stack.enter_context(
                open_waiting(
                    path,
                    read_only=read_only,
                    deadline=time.monotonic() + wait_seconds,
                    holder_hint="an ingest running?",
                )
            )
        except duckdb.Error as exc:
            raise ConfigError(f"{path}: cannot open the mirror file: {exc}") from exc
        if read_only:
            if not _has_table(con, "mirror_records"):
                raise ConfigError(f"{path} is not a litgrade mirror (no mirror_records table)")
        else:
            apply_migrations(con, MIRROR_SQL, adopted=_inline_ddl_version)
        yield con


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    row = con.execute(sql, [name]).fetchone()
    return bool(row and row[0])


def _inline_ddl_version(con: duckdb.DuckDBPyConnection) -> int:
    """Mirrors made before schemas/sql/mirror/ created their tables inline and kept the version in
    mirror_meta ('1': the tables of 001_mirror.sql)."""
    if not _has_table(con, "mirror_meta"):
        return 0
    row = con.execute("SELECT value FROM mirror_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


# -- rows ---------------------------------------------------------------------------------------
def _padded(parts: Iterable[str]) -> str:
    texts = [t for t in (normalize_text(p) for p in parts) if t]
    return " " + " | ".join(texts) + " " if texts else ""


def _entries(values: Iterable[str]) -> str:
    items = list(dict.fromkeys(v for v in values if v))
    return "|" + "|".join(items) + "|" if items else ""


def _mesh_entries(article: Article, *, major_only: bool) -> str:
    out: list[str] = []
    for heading in article.mesh:
        descriptor = normalize_text(heading.descriptor)
        quals = [(normalize_text(q.name), q.major) for q in heading.qualifiers]
        if major_only:
            # [majr] matches a heading starred itself or through one of its subheadings.
            if heading.major or any(major for _, major in quals):
                out.append(descriptor)
            out.extend(f"{descriptor}/{q}" for q, major in quals if heading.major or major)
        else:
            out.append(descriptor)
            out.extend(f"{descriptor}/{q}" for q, _ in quals)
    return _entries(out)


def _author_entries(article: Article) -> str:
    out: list[str] = []
    for author in article.authors:
        if author.collective_name:
            out.append(normalize_text(author.collective_name))
        last = normalize_text(author.last_name or "")
        if not last:
            continue
        for given in (author.initials, author.fore_name):
            out.append(f"{last} {normalize_text(given)}".strip() if given else last)
    return _entries(out)




def entry_date_of(article: Article) -> dt.date | None:
    """Stand-in for PubMed's entry date, which the records do not carry (see ENTRY_DATE_NOTE)."""
    return (
        iso_day(article.article_date)
        or iso_day(article.pub_date.sort_date)
        or iso_day(article.date_revised)
    )


def article_row(article: Article) -> dict[str, object]:
    """The mirror_records row for one record (search columns prepared once, here)."""
    sections = [s.text for s in article.abstract]
    sections += [s.text for other in article.other_abstracts for s in other.sections]
    return {
        "pmid": article.pmid,
        "version": article.version,
        "title": article.title,
        "ti_n": _padded([article.title]),
        "ab_n": _padded(sections),
        "kw_n": _padded(article.keywords),
        "mesh_n": _mesh_entries(article, major_only=False),
        "majr_n": _mesh_entries(article, major_only=True),
        "pt_n": _entries(normalize_text(p.name) for p in article.publication_types),
        "la_n": _entries(normalize_text(lang) for lang in article.languages),
        "au_n": _author_entries(article),
        "pub_year": article.pub_date.year,
        "pub_date": iso_day(article.pub_date.sort_date),
        "epub_date": iso_day(article.article_date),
        "entry_date": entry_date_of(article),
        "date_revised": iso_day(article.date_revised),
        "record": article_to_json(article),
    }


# -- writes -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UpsertCounts:
    new: int = 0
    replaced: int = 0  # same or newer version than the stored one
    older_ignored: int = 0  # a lower version than the one already stored


_UPDATE_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c != "pmid")


def rows_table(rows: Sequence[dict[str, object]]) -> pa.Table:
    """Rows as one Arrow table with unique PMIDs: a later row replaces an earlier one with the same
    PMID unless its version is lower."""
    latest: dict[object, dict[str, object]] = {}
    for row in rows:
        kept = latest.get(row["pmid"])
        if kept is None or int(row["version"]) >= int(kept["version"]):  # type: ignore[call-overload]
            latest[row["pmid"]] = row
    return pa.Table.from_pylist(list(latest.values()), schema=ARROW_SCHEMA)


def upsert_rows(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, object]]) -> UpsertCounts:
    """Insert or replace rows in one bulk statement (see `rows_table` for duplicates)."""
    return upsert_table(con, rows_table(rows)) if rows else UpsertCounts()


def upsert_table(con: duckdb.DuckDBPyConnection, table: pa.Table) -> UpsertCounts:
    """Bulk upsert of an Arrow table with ARROW_SCHEMA (unique PMIDs)."""
    con.register("incoming_records", table)
    try:
        counts = con.execute(
            "SELECT count(*) FILTER (WHERE r.pmid IS NULL), "
            "count(*) FILTER (WHERE r.version <= i.version), "
            "count(*) FILTER (WHERE r.version > i.version) "
            "FROM incoming_records i LEFT JOIN mirror_records r ON r.pmid = i.pmid"
        ).fetchone()
        con.execute(
            f"INSERT INTO mirror_records SELECT {', '.join(COLUMNS)} FROM incoming_records "
            f"ON CONFLICT (pmid) DO UPDATE SET {_UPDATE_SET} "
            "WHERE EXCLUDED.version >= mirror_records.version"
        )
    finally:
        con.unregister("incoming_records")
    assert counts is not None
    return UpsertCounts(new=counts[0], replaced=counts[1], older_ignored=counts[2])


def delete_pmids(con: duckdb.DuckDBPyConnection, pmids: Sequence[str]) -> int:
    """Remove records (DeleteCitation); returns how many were present."""
    if not pmids:
        return 0
    removed = con.execute(
        "DELETE FROM mirror_records WHERE list_contains(?, pmid) RETURNING pmid", [list(pmids)]
    ).fetchall()
    return len(removed)


def file_ingested(con: duckdb.DuckDBPyConnection, sha256: str) -> bool:
    row = con.execute("SELECT count(*) FROM mirror_files WHERE sha256 = ?", [sha256]).fetchone()
    return bool(row and row[0])


def record_file(
    con: duckdb.DuckDBPyConnection,
    *,
    sha256: str,
    name: str,
    size_bytes: int,
    records: int,
    deletions: int,
    problems: int,
) -> None:
    con.execute(
        "INSERT OR REPLACE INTO mirror_files VALUES (?, ?, ?, ?, ?, ?, current_timestamp::TIMESTAMP)",
        [sha256, name, size_bytes, records, deletions, problems],
    )


def raise_snapshot_date(con: duckdb.DuckDBPyConnection, seen: dt.date | None) -> None:
    """Snapshot date = the newest revision/e-publication date any ingested record carried."""
    if seen is None:
        return
    current = _snapshot_date(con)
    if current is None or seen > current:
        con.execute("INSERT OR REPLACE INTO mirror_meta VALUES ('snapshot_date', ?)", [seen.isoformat()])


def _snapshot_date(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    row = con.execute("SELECT value FROM mirror_meta WHERE key = 'snapshot_date'").fetchone()
    return dt.date.fromisoformat(row[0]) if row else None


# -- reads --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IngestedFile:
    name: str
    sha256: str
    size_bytes: int
    records: int
    deletions: int
    problems: int
    ingested_at: dt.datetime


@dataclass(frozen=True, slots=True)
class MirrorInfo:
    path: Path
    records: int
    snapshot_date: dt.date | None
    files: tuple[IngestedFile, ...]


def mirror_info(con: duckdb.DuckDBPyConnection, path: Path) -> MirrorInfo:
    count = con.execute("SELECT count(*) FROM mirror_records").fetchone()
    files = con.execute(
        "SELECT name, sha256, size_bytes, records, deletions, problems, ingested_at "
        "FROM mirror_files ORDER BY ingested_at, name"
    ).fetchall()
    return MirrorInfo(
        path=path,
        records=int(count[0]) if count else 0,
        snapshot_date=_snapshot_date(con),
        files=tuple(IngestedFile(*row) for row in files),
    )


def fetch_records(con: duckdb.DuckDBPyConnection, pmids: Sequence[str]) -> dict[str, Article]:
    rows = con.execute(
        "SELECT pmid, record FROM mirror_records WHERE list_contains(?, pmid)", [list(pmids)]
    ).fetchall()
    return {pmid: article_from_json(record) for pmid, record in rows}


def search_pmids(
    con: duckdb.DuckDBPyConnection,
    node: Node,
    *,
    entry_from: dt.date | None = None,
    entry_to: dt.date | None = None,
) -> list[str]:
    """PMIDs matching the query AST (newest PMID first, as PubMed's default order roughly is)."""
    where, params = to_sql(node)
    if entry_from is not None or entry_to is not None:
        where = f"({where}) AND coalesce(entry_date BETWEEN ? AND ?, false)"
        params += [entry_from or dt.date.min, entry_to or dt.date.max]
    rows = con.execute(
        f"SELECT pmid FROM mirror_records WHERE {where} "
        "ORDER BY TRY_CAST(pmid AS BIGINT) DESC NULLS LAST, pmid",
        params,
    ).fetchall()
    return [row[0] for row in rows]


class MirrorIndex:
    """A mirror file as `flows.sources.mirror.source.MirrorSource` reads it.

    Each call opens a short read-only connection and closes it, so an ingest can take its turn between
    a refresh's searches and fetch batches; a missing file is a ConfigError at the first call.
    """

    def __init__(self, path: Path, *, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> None:
        self.path = Path(path)
        self.wait_seconds = wait_seconds

    def _read(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return open_mirror(self.path, read_only=True, wait_seconds=self.wait_seconds)

    def search(
        self, node: Node, entry_from: dt.date | None = None, entry_to: dt.date | None = None
    ) -> tuple[list[str], MirrorInfo]:
        with self._read() as con:  # one connection for both: opening one costs as much as the count
            return (
                search_pmids(con, node, entry_from=entry_from, entry_to=entry_to),
                mirror_info(con, self.path),
            )

    def fetch(self, pmids: Sequence[str]) -> dict[str, Article]:
        with self._read() as con:
            return fetch_records(con, pmids)

    def info(self) -> MirrorInfo:
        with self._read() as con:
            return mirror_info(con, self.path)
