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

DuckDB's FTS extension is not used: it stems words and ranks by BM25, so phrase, prefix and
exact-heading semantics would not be PubMed's. (Offline, `INSTALL fts` tries the network and fails;
the duckdb-extension-fts wheel's file does load with `LOAD '<path>'`.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from flows.errors import ConfigError
from flows.pubmed.query import (
    BoolOp,
    DateRange,
    Field,
    Node,
    Term,
    normalize_text,
)
from flows.pubmed.records import Article
from flows.store.articles import date_or_none as iso_date
from flows.store.db import DEFAULT_WAIT_SECONDS, open_waiting

SCHEMA_VERSION = "1"
Connection = duckdb.DuckDBPyConnection

_DDL = """
CREATE TABLE IF NOT EXISTS mirror_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS mirror_files (
    sha256 VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    records INTEGER NOT NULL,
    deletions INTEGER NOT NULL,
    problems INTEGER NOT NULL,
    ingested_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS mirror_records (
    pmid VARCHAR PRIMARY KEY,
    version INTEGER NOT NULL,
    title VARCHAR NOT NULL,
    ti_n VARCHAR NOT NULL,
    ab_n VARCHAR NOT NULL,
    kw_n VARCHAR NOT NULL,
    mesh_n VARCHAR NOT NULL,
    majr_n VARCHAR NOT NULL,
    pt_n VARCHAR NOT NULL,
    la_n VARCHAR NOT NULL,
    au_n VARCHAR NOT NULL,
    pub_year INTEGER,
    pub_date DATE,
    epub_date DATE,
    entry_date DATE,
    date_revised DATE,
    record VARCHAR NOT NULL
);
"""

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
    """A connection to the mirror file; creates the tables when writing. Waits out another process."""
    path = Path(path)
    if read_only and not path.exists():
        raise ConfigError(f"{path}: no mirror here yet; build one with `litgrade mirror ingest FILE...`")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = open_waiting(
            path, read_only=read_only, wait_seconds=wait_seconds, holder_hint="an ingest running?"
        )
    except duckdb.Error as exc:
        raise ConfigError(f"{path}: cannot open the mirror file: {exc}") from exc
    try:
        if read_only:
            has_table = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'mirror_records'"
            ).fetchone()
            if not has_table or not has_table[0]:
                raise ConfigError(f"{path} is not a litgrade mirror (no mirror_records table)")
        else:
            con.execute(_DDL)
            con.execute(
                "INSERT INTO mirror_meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
                [SCHEMA_VERSION],
            )
        yield con
    finally:
        con.close()


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


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: object) -> object:
    """What `dataclasses.asdict` gives for the record, without its deep copies (3x faster here)."""
    cls = type(value)
    if cls is str or value is None or cls is int or cls is bool:
        return value
    if cls is tuple or cls is list:
        return [_plain(v) for v in value]  # type: ignore[attr-defined]
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if not dataclasses.is_dataclass(value):
            return value
        names = _FIELD_NAMES.setdefault(cls, tuple(f.name for f in dataclasses.fields(value)))
    return {name: _plain(getattr(value, name)) for name in names}


def record_json(article: Article) -> str:
    """The full record as JSON; `Article.from_dict(json.loads(...))` gives it back unchanged."""
    return json.dumps(_plain(article), ensure_ascii=False, separators=(",", ":"))


def entry_date_of(article: Article) -> dt.date | None:
    """Stand-in for PubMed's entry date, which the records do not carry (see ENTRY_DATE_NOTE)."""
    return (
        iso_date(article.article_date)
        or iso_date(article.pub_date.sort_date)
        or iso_date(article.date_revised)
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
        "pub_date": iso_date(article.pub_date.sort_date),
        "epub_date": iso_date(article.article_date),
        "entry_date": entry_date_of(article),
        "date_revised": iso_date(article.date_revised),
        "record": record_json(article),
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
    return {pmid: Article.from_dict(json.loads(record)) for pmid, record in rows}


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


# -- AST → SQL ----------------------------------------------------------------------------------
_TEXT_COLUMNS: dict[Field, tuple[str, ...]] = {
    Field.TIAB: ("ti_n", "ab_n", "kw_n"),
    Field.TITLE: ("ti_n",),
    Field.ABSTRACT: ("ab_n",),
}
_ENTRY_COLUMNS: dict[Field, str] = {
    Field.MESH: "mesh_n",
    Field.MAJR: "majr_n",
    Field.PT: "pt_n",
    Field.LANG: "la_n",
}
_WORD_WILDCARD = "[^ |]*"
_ENTRY_WILDCARD = "[^|]*"

Sql = tuple[str, list[object]]


@dataclass(frozen=True, slots=True)
class _Match:
    """One term as a substring test on some columns: `literal` for `contains` when it has no inner
    wildcard, and always an equivalent RE2 `regex` (query words hold only \\w characters and '*',
    so nothing needs escaping)."""

    columns: tuple[str, ...]
    literal: str | None
    regex: str

    def sql(self) -> Sql:
        if self.literal is not None:
            return _any_column(self.columns, "contains"), [self.literal] * len(self.columns)
        return _any_column(self.columns, "regexp_matches"), [self.regex] * len(self.columns)


def _any_column(columns: tuple[str, ...], function: str) -> str:
    return "(" + " OR ".join(f"{function}({c}, ?)" for c in columns) + ")"


def _phrase_match(columns: tuple[str, ...], words: tuple[str, ...]) -> _Match:
    phrase = " ".join(words)
    inner = phrase.rstrip("*")
    if "*" in inner:
        return _Match(columns, None, " " + phrase.replace("*", _WORD_WILDCARD) + " ")
    # Exact words: " w1 w2 "; a trailing wildcard only: the prefix " w1 w2".
    needle = f" {inner}" if inner != phrase else f" {phrase} "
    return _Match(columns, needle, needle)


def _entry_match(column: str, entry: str) -> _Match:
    inner = entry.rstrip("*")
    if "*" in inner:
        return _Match((column,), None, r"\|" + entry.replace("*", _ENTRY_WILDCARD) + r"\|")
    if inner != entry:
        return _Match((column,), f"|{inner}", r"\|" + inner)
    return _Match((column,), f"|{entry}|", r"\|" + entry + r"\|")


def _author_sql(words: tuple[str, ...]) -> Sql:
    name = " ".join(words)
    if "*" in name:
        return "regexp_matches(au_n, ?)", [r"\|" + name.replace("*", _WORD_WILDCARD)]
    if len(words) == 1:
        # A bare last name matches every author with that last name, not longer names.
        return "(contains(au_n, ?) OR contains(au_n, ?))", [f"|{name} ", f"|{name}|"]
    return "contains(au_n, ?)", [f"|{name}"]  # initials match as a prefix: "smith j" → Smith JA


def _and_all(parts: list[Sql]) -> Sql:
    return "(" + " AND ".join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]


def _match_of(term: Term) -> _Match | None:
    """The single substring test a tagged term is, if it is one (untagged and author terms are not)."""
    if term.field in _TEXT_COLUMNS:
        return _phrase_match(_TEXT_COLUMNS[term.field], term.words)
    if term.field in _ENTRY_COLUMNS:
        entry = " ".join(term.words)
        if term.qualifier:
            entry += "/" + " ".join(term.qualifier)
        return _entry_match(_ENTRY_COLUMNS[term.field], entry)
    return None


def _term_sql(term: Term) -> Sql:
    match = _match_of(term)
    if match is not None:
        return match.sql()
    if term.field is Field.AUTHOR:
        return _author_sql(term.words)
    tiab = _TEXT_COLUMNS[Field.TIAB]  # untagged: title/abstract words, or an exact heading
    if term.quoted or len(term.words) == 1:
        text = _phrase_match(tiab, term.words).sql()
    else:
        text = _and_all([_phrase_match(tiab, (w,)).sql() for w in term.words])
    mesh = _entry_match("mesh_n", " ".join(term.words)).sql()
    return f"({text[0]} OR {mesh[0]})", text[1] + mesh[1]


def _or_operands(node: Node) -> list[Node]:
    if isinstance(node, BoolOp) and node.op == "OR":
        return _or_operands(node.left) + _or_operands(node.right)
    return [node]


def _or_sql(node: BoolOp) -> Sql:
    """OR is associative, so synonyms ORed on the same field become one regex alternation: one pass
    over the column instead of one per synonym (4-5x faster on long abstracts)."""
    groups: dict[tuple[str, ...], list[_Match]] = {}
    others: list[Sql] = []
    for operand in _or_operands(node):
        match = _match_of(operand) if isinstance(operand, Term) else None
        if match is None:
            others.append(to_sql(operand))
        else:
            groups.setdefault(match.columns, []).append(match)
    parts: list[Sql] = []
    for columns, matches in groups.items():
        if len(matches) == 1:
            parts.append(matches[0].sql())
        else:
            regex = "(?:" + "|".join(dict.fromkeys(m.regex for m in matches)) + ")"
            parts.append((_any_column(columns, "regexp_matches"), [regex] * len(columns)))
    parts += others
    return "(" + " OR ".join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]


def _date_sql(node: DateRange) -> Sql:
    if node.field is Field.DP:
        # PubMed's [dp] covers both the print and the electronic publication date.
        return (
            "(coalesce(pub_date BETWEEN ? AND ?, false) OR coalesce(epub_date BETWEEN ? AND ?, false))",
            [node.start, node.end, node.start, node.end],
        )
    return "coalesce(entry_date BETWEEN ? AND ?, false)", [node.start, node.end]


def to_sql(node: Node) -> Sql:
    """A WHERE clause and its parameters for the query AST (never NULL, so NOT is safe)."""
    if isinstance(node, Term):
        return _term_sql(node)
    if isinstance(node, DateRange):
        return _date_sql(node)
    assert isinstance(node, BoolOp)
    if node.op == "OR":
        return _or_sql(node)
    left, lp = to_sql(node.left)
    right, rp = to_sql(node.right)
    if node.op == "NOT":
        return f"({left} AND NOT {right})", lp + rp
    return f"({left} AND {right})", lp + rp
