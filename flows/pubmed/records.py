"""Plain typed PubMed records: what the parser produces and every other module reads.

Pure data, no I/O. Records round-trip through ``to_dict``/``from_dict`` (JSON-safe) so the store can
keep the full record beside its flat columns and hand back the same object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

DatePrecision = Literal["year", "month", "day"]

# CommentsCorrections RefType values that change how a record may be used as evidence.
RETRACTION_IN = "RetractionIn"
RETRACTION_OF = "RetractionOf"
EXPRESSION_OF_CONCERN_IN = "ExpressionOfConcernIn"
ERRATUM_IN = "ErratumIn"
UPDATE_IN = "UpdateIn"
RETRACTED_PUBLICATION_TYPE = "Retracted Publication"
RETRACTION_NOTICE_TYPE = "Retraction of Publication"
CONCERN_NOTICE_TYPE = "Expression of Concern"


@dataclass(frozen=True, slots=True)
class AbstractSection:
    text: str  # clean text (inline markup dropped, words kept apart)
    html: str = ""  # safe markup subset (i, b, sup, sub, u; MathML flattened to text)
    label: str | None = None
    category: str | None = None  # NlmCategory


@dataclass(frozen=True, slots=True)
class OtherAbstract:
    sections: tuple[AbstractSection, ...]
    type: str | None = None  # e.g. "plain-language-summary", "Publisher"
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Author:
    last_name: str | None = None
    fore_name: str | None = None
    initials: str | None = None
    suffix: str | None = None
    collective_name: str | None = None
    orcid: str | None = None  # bare 0000-0000-0000-0000 form
    affiliations: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        if self.collective_name:
            return self.collective_name
        parts = [p for p in (self.last_name, self.initials or self.fore_name) if p]
        name = " ".join(parts)
        return f"{name} {self.suffix}" if self.suffix else name


@dataclass(frozen=True, slots=True)
class Journal:
    title: str | None = None
    iso_abbreviation: str | None = None
    issn: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None


@dataclass(frozen=True, slots=True)
class PubDate:
    raw: str = ""  # as PubMed wrote it, e.g. "1998 Dec-1999 Jan", "2000 Spring"
    sort_date: str | None = None  # ISO YYYY-MM-DD, first day of the period
    precision: DatePrecision | None = None

    @property
    def year(self) -> int | None:
        return int(self.sort_date[:4]) if self.sort_date else None


@dataclass(frozen=True, slots=True)
class PublicationType:
    name: str
    ui: str | None = None


@dataclass(frozen=True, slots=True)
class MeshQualifier:
    name: str
    ui: str | None = None
    major: bool = False


@dataclass(frozen=True, slots=True)
class MeshHeading:
    descriptor: str
    ui: str | None = None
    major: bool = False
    qualifiers: tuple[MeshQualifier, ...] = ()


@dataclass(frozen=True, slots=True)
class Chemical:
    name: str
    ui: str | None = None
    registry_number: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str | None = None
    agency: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class CommentCorrection:
    ref_type: str  # RetractionIn, ErratumFor, CommentIn, ...
    pmid: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    pmid: str
    title: str  # clean text for search and plain output
    title_html: str = ""  # safe markup subset for HTML
    version: int = 1
    vernacular_title: str | None = None
    abstract: tuple[AbstractSection, ...] = ()
    other_abstracts: tuple[OtherAbstract, ...] = ()
    copyright: str | None = None
    authors: tuple[Author, ...] = ()
    journal: Journal = field(default_factory=Journal)
    pub_date: PubDate = field(default_factory=PubDate)
    article_date: str | None = None  # electronic publication date, ISO
    date_revised: str | None = None  # PubMed's modification date (DateRevised), ISO
    doi: str | None = None
    pmc: str | None = None
    pii: str | None = None
    publication_types: tuple[PublicationType, ...] = ()
    mesh: tuple[MeshHeading, ...] = ()
    chemicals: tuple[Chemical, ...] = ()
    keywords: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()
    status: str | None = None  # MedlineCitation Status (MEDLINE, In-Process, ...)
    comments_corrections: tuple[CommentCorrection, ...] = ()
    is_book: bool = False

    # -- derived views -------------------------------------------------------------------------
    @property
    def publication_type_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.publication_types)

    @property
    def mesh_descriptors(self) -> tuple[str, ...]:
        return tuple(m.descriptor for m in self.mesh)

    @property
    def abstract_text(self) -> str:
        """Abstract as one string, section labels kept in front of their text."""
        return "\n".join(f"{s.label}: {s.text}" if s.label else s.text for s in self.abstract)

    def _linked(self, ref_type: str) -> tuple[str, ...]:
        return tuple(c.pmid for c in self.comments_corrections if c.ref_type == ref_type and c.pmid)

    @property
    def is_retracted(self) -> bool:
        return RETRACTED_PUBLICATION_TYPE in self.publication_type_names or any(
            c.ref_type == RETRACTION_IN for c in self.comments_corrections
        )

    @property
    def is_retraction_notice(self) -> bool:
        return RETRACTION_NOTICE_TYPE in self.publication_type_names or any(
            c.ref_type == RETRACTION_OF for c in self.comments_corrections
        )

    @property
    def has_expression_of_concern(self) -> bool:
        return any(c.ref_type == EXPRESSION_OF_CONCERN_IN for c in self.comments_corrections)

    @property
    def retraction_pmids(self) -> tuple[str, ...]:
        return self._linked(RETRACTION_IN)

    @property
    def erratum_pmids(self) -> tuple[str, ...]:
        return self._linked(ERRATUM_IN)

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Article:
        def sections(items: list[dict[str, Any]]) -> tuple[AbstractSection, ...]:
            return tuple(AbstractSection(**s) for s in items)

        return cls(
            **{
                **data,
                "abstract": sections(data.get("abstract", [])),
                "other_abstracts": tuple(
                    OtherAbstract(**{**o, "sections": sections(o.get("sections", []))})
                    for o in data.get("other_abstracts", [])
                ),
                "authors": tuple(
                    Author(**{**a, "affiliations": tuple(a.get("affiliations", ()))})
                    for a in data.get("authors", [])
                ),
                "journal": Journal(**data.get("journal", {})),
                "pub_date": PubDate(**data.get("pub_date", {})),
                "publication_types": tuple(
                    PublicationType(**p) for p in data.get("publication_types", [])
                ),
                "mesh": tuple(
                    MeshHeading(
                        **{
                            **m,
                            "qualifiers": tuple(MeshQualifier(**q) for q in m.get("qualifiers", [])),
                        }
                    )
                    for m in data.get("mesh", [])
                ),
                "chemicals": tuple(Chemical(**c) for c in data.get("chemicals", [])),
                "keywords": tuple(data.get("keywords", ())),
                "languages": tuple(data.get("languages", ())),
                "grants": tuple(Grant(**g) for g in data.get("grants", [])),
                "comments_corrections": tuple(
                    CommentCorrection(**c) for c in data.get("comments_corrections", [])
                ),
            }
        )


@dataclass(frozen=True, slots=True)
class DeletedCitations:
    """A DeleteCitation block from a bulk/update file: the store removes these PMIDs."""

    pmids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A record the parser could not understand: reported, never half-filled."""

    pmid: str | None
    reason: str


ParseEvent = Article | DeletedCitations | ParseProblem


R = TypeVar("R")


_UNSET = object()  # a builder's "no value given" for a field with a default factory


def builder(cls: type[R]) -> Callable[..., R]:
    """A faster constructor for one of these frozen slots dataclasses, for the parser's hot loop.

    A frozen dataclass's __init__ sets each field through object.__setattr__, about 3× the cost of a
    plain slot store; the parser builds millions of authors, headings and links. The builder is a
    mutable twin with the same fields (same slots, same order, same defaults) whose __init__ ends by
    making the object an instance of `cls`: what comes out is a `cls` like any other (equal, hashed
    and frozen the same way), only made faster. The __init__ is generated (as dataclasses does) so
    that last step is one store in it, not a call to __post_init__ for each of ~30 objects a record.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    twin = dataclasses.make_dataclass(
        f"_{cls.__name__}Builder", [(f.name, f.type) for f in fields], slots=True, init=False, eq=False
    )
    scope: dict[str, Any] = {"_cls": cls, "_unset": _UNSET}
    params: list[str] = []
    body: list[str] = []
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_unset")
            body.append(f"    self.{f.name} = _factory_{f.name}() if {f.name} is _unset else {f.name}")
        else:
            if f.default is not dataclasses.MISSING:
                scope[f"_default_{f.name}"] = f.default
                params.append(f"{f.name}=_default_{f.name}")
            else:
                params.append(f.name)
            body.append(f"    self.{f.name} = {f.name}")
    body.append("    self.__class__ = _cls")
    # Source from our own field names only, compiled the way dataclasses compiles its __init__.
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), scope)
    twin.__init__ = scope["__init__"]  # type: ignore[misc]
    return twin
