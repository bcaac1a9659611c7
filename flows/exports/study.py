"""One exported study: a claim's PMID with its record, its final grade and its retraction status (pure).

litgrade's own fields come from the FinalGrade dataclass itself (every field but claim and PMID), so a
field added to the grade (GRADE certainty: risk of bias, indirectness, outcome, …) is exported by every
format without a change here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from flows.curation.events import FinalGrade
from flows.evidence.recheck import standing_status
from flows.evidence.retraction_watch import Notice, matching
from flows.pubmed.records import Article, Author

_KEYWORD = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
What = Literal["included", "all"]
WHAT = ("included", "all")
_NOT_EXPORTED = frozenset({"claim", "pmid", "relevance"})  # relevance is the "decision"
# The grade's fields, in the dataclass's order: new ones appear in every export after a merge.
GRADE_FIELDS = tuple(f.name for f in dataclasses.fields(FinalGrade) if f.name not in _NOT_EXPORTED)


@dataclass(frozen=True, slots=True)
class ExportStudy:
    claim: str
    pmid: str
    article: Article | None  # None: a hit not yet fetched from PubMed
    grade: FinalGrade | None  # None: not decided yet (see state)
    state: str  # final | partial | conflict | ungraded
    status: tuple[str, ...] = ()  # retraction status, one entry per source's statement

    @property
    def pubmed_url(self) -> str:
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"

    @property
    def title(self) -> str:
        return self.article.title if self.article else ""

    @property
    def journal(self) -> str:
        if self.article is None:
            return ""
        return self.article.journal.title or self.article.journal.iso_abbreviation or ""

    @property
    def journal_abbreviation(self) -> str:
        return (self.article.journal.iso_abbreviation or "") if self.article else ""

    @property
    def year(self) -> int | None:
        return self.article.pub_date.year if self.article else None

    def pages(self) -> tuple[str, str]:
        """(start, end) from PubMed's MedlinePgn ("123-9" → 123, 9); empty where unknown."""
        text = (self.article.journal.pages or "") if self.article else ""
        first = text.split(",")[0].strip()
        start, _, end = first.partition("-")
        return start.strip(), end.strip()

    def decision(self) -> str:
        """include | exclude (final grade), else the grading state: partial | conflict | ungraded."""
        return self.grade.relevance if self.grade else self.state

    def litgrade_fields(self) -> list[tuple[str, str]]:
        """(name, value) of litgrade's fields that have a value, in a fixed order: the claim, the
        decision, every grade field, and the retraction status."""
        out = [("claim", self.claim), ("decision", self.decision())]
        for name, value in grade_values(self.grade).items():
            if value:
                out.append((name, value))
        out.append(("retraction_status", "; ".join(self.status) or "none known"))
        return out

    def keyword_fields(self) -> list[tuple[str, str]]:
        """The fields whose values are vocabulary ids (level, direction, decision, …): keywords a
        reference manager can filter on; free text stays in the notes."""
        fields = [(k, v) for k, v in self.litgrade_fields() if _KEYWORD.fullmatch(v)]
        return [*fields, ("retracted", "yes" if self.retracted else "no")]

    @property
    def retracted(self) -> bool:
        return any(s.startswith("retracted") for s in self.status)


def grade_values(grade: FinalGrade | None) -> dict[str, str]:
    """Every grade field as text ("" when unset); tuples joined with ", "."""
    out: dict[str, str] = {}
    for name in GRADE_FIELDS:
        value = getattr(grade, name, None) if grade else None
        if isinstance(value, tuple | list):
            out[name] = ", ".join(str(v) for v in value)
        else:
            out[name] = "" if value is None else str(value)
    return out


def author_name(author: Author) -> str:
    """ "Last, First" as reference managers read it (a collective name as it is)."""
    if author.collective_name:
        return author.collective_name
    first = author.fore_name or author.initials or ""
    last = author.last_name or ""
    if author.suffix:
        last = f"{last}, {author.suffix}" if first else f"{last} {author.suffix}"
    return f"{last}, {first}" if first and last else (last or first)


def authors(study: ExportStudy) -> list[str]:
    return [name for a in (study.article.authors if study.article else ()) if (name := author_name(a))]


def build_studies(
    claim_ids: Sequence[str],
    hits: Mapping[str, Sequence[str]],
    articles: Mapping[str, Article],
    finals: Sequence[FinalGrade],
    states: Mapping[tuple[str, str], str],
    notices: Sequence[Notice],
    what: What,
) -> list[ExportStudy]:
    """The studies to export, claim by claim (in claims.yaml's order), PMIDs ascending: with `what`
    "included" the ones whose final grade includes them, with "all" every hit of the claim."""
    grades = {(g.claim, g.pmid): g for g in finals}
    out: list[ExportStudy] = []
    for claim in claim_ids:
        for pmid in sorted(set(hits.get(claim, ())), key=lambda p: (len(p), p)):
            grade = grades.get((claim, pmid))
            if what == "included" and not (grade and grade.relevance == "include"):
                continue
            article = articles.get(pmid)
            mine = matching(notices, pmid, article.doi if article else None)
            out.append(
                ExportStudy(
                    claim=claim,
                    pmid=pmid,
                    article=article,
                    grade=grade,
                    state="final" if grade else states.get((claim, pmid), "ungraded"),
                    status=tuple(standing_status(article, mine)),
                )
            )
    return out
