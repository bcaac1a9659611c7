"""Page data: turns library objects (Article, GradeEvent, suggestions) into what templates show.

Every outside string that may carry markup goes through flows.web.sanitize here, so templates only
ever print Markup built by the allow-list or plain text Jinja escapes itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from flows.curation.events import GradeEvent
from flows.curation.ladder import load_ladder
from flows.curation.suggest import Suggestion
from flows.pubmed.highlight import query_pattern
from flows.pubmed.records import Article
from flows.web.sanitize import pick_html

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"


@dataclass(frozen=True, slots=True)
class Section:
    label: str | None
    html: Markup


@dataclass(frozen=True, slots=True)
class GradeView:
    curator: str
    curator_name: str
    timestamp: str
    kind: str
    summary: str
    note: str | None
    quote: str | None = None


@dataclass(frozen=True, slots=True)
class StudyView:
    pmid: str
    title: Markup
    authors: str
    journal: str
    year: str
    publication_types: tuple[str, ...]
    mesh: tuple[str, ...]
    sections: tuple[Section, ...]
    pubmed_url: str
    doi: str | None
    retracted: bool
    concern: bool
    suggestion: dict[str, Any] | None
    mine: GradeView | None = None
    others: tuple[GradeView, ...] = ()
    hidden_others: int = 0
    blind: bool = False


def summarize(event: GradeEvent) -> str:
    """One line a person reads: 'include · Randomised controlled trial · Supports'."""
    ladder = load_ladder()
    if event.kind == "retract":
        return "withdrawn (undo)"
    prefix = "adjudicated: " if event.kind == "adjudication" else ""
    if event.relevance == "exclude":
        reason = ladder.label("exclude_reasons", event.exclude_reason) if event.exclude_reason else "?"
        return f"{prefix}exclude · {reason}"
    parts = ["include"]
    if event.level:
        parts.append(ladder.label("levels", event.level))
    if event.direction:
        parts.append(ladder.label("directions", event.direction))
    if event.risk_of_bias:
        parts.append(f"risk of bias {ladder.label('risk_of_bias', event.risk_of_bias)}")
    if event.population:
        parts.append(f"n={event.population}")
    return prefix + " · ".join(parts)


def grade_view(event: GradeEvent, names: dict[str, str]) -> GradeView:
    return GradeView(
        curator=event.curator,
        curator_name=names.get(event.curator, event.curator),
        timestamp=event.timestamp,
        kind=event.kind,
        summary=summarize(event),
        note=event.note,
        quote=event.quote,
    )


def _authors(article: Article, limit: int = 12) -> str:
    names = [a.display for a in article.authors if a.display]
    if len(names) > limit:
        return ", ".join(names[:limit]) + f", … (+{len(names) - limit})"
    return ", ".join(names)


def suggestion_dict(suggestion: Suggestion | None) -> dict[str, Any] | None:
    if suggestion is None or not suggestion.level:
        return None
    ladder = load_ladder()
    return {
        "level": suggestion.level,
        "is_level": suggestion.level in ladder.level_ids,  # "unclear" is a suggestion, never a grade
        "label": ladder.label("levels", suggestion.level),
        "confidence": suggestion.confidence,
        "reasons": suggestion.reasons,
    }


def study_view(
    article: Article,
    query: str,
    suggestion: Suggestion | None = None,
    *,
    mine: GradeView | None = None,
    others: Sequence[GradeView] = (),
    hidden_others: int = 0,
    blind: bool = False,
) -> StudyView:
    pattern = query_pattern(query)
    sections = tuple(
        Section(label=s.label, html=pick_html(s.html, s.text, pattern)) for s in article.abstract
    )
    journal = article.journal.title or article.journal.iso_abbreviation or ""
    year = article.pub_date.year
    return StudyView(
        pmid=article.pmid,
        title=pick_html(article.title_html, article.title, pattern),
        authors=_authors(article),
        journal=journal,
        year=str(year) if year else (article.pub_date.raw or ""),
        publication_types=article.publication_type_names,
        mesh=tuple(m.descriptor + (" *" if m.major else "") for m in article.mesh),
        sections=sections,
        pubmed_url=PUBMED_URL.format(pmid=article.pmid),
        doi=article.doi,
        retracted=article.is_retracted,
        concern=article.has_expression_of_concern,
        suggestion=suggestion_dict(suggestion),
        mine=mine,
        others=tuple(others),
        hidden_others=hidden_others,
        blind=blind,
    )
