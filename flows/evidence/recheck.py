"""What changed in a study that curators already graded: pure comparison of two versions of a record,
and the Retraction Watch notices about it (the second source). Every change names its source."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from flows.evidence.retraction_watch import SOURCE_NAME, Notice
from flows.pubmed.records import EXPRESSION_OF_CONCERN_IN, RETRACTION_IN, Article, CommentCorrection

PUBMED = "PubMed"
# Retraction Watch natures → the change kinds re-review flags carry (PubMed's own kinds, where they match).
NOTICE_KINDS = {
    "retraction": "retracted",
    "expression_of_concern": "expression_of_concern",
    "correction": "correction",
    "reinstatement": "reinstatement",
}


@dataclass(frozen=True, slots=True)
class StudyChange:
    pmid: str
    kinds: tuple[str, ...]  # retracted, expression_of_concern, erratum, correction, publication_types, ...
    detail: str  # names the source: "… per PubMed …", "… per Retraction Watch (record N) …"
    needs_rereview: bool  # the change can alter a grade: a curator must look again
    sources: tuple[str, ...] = (PUBMED,)
    notice_ids: tuple[str, ...] = ()  # the Retraction Watch records it reports


def compare_versions(before: Article, after: Article) -> StudyChange | None:
    """The changes between two versions of a graded record that matter for its grade, or None."""
    kinds: list[str] = []
    details: list[str] = []
    if after.is_retracted and not before.is_retracted:
        kinds.append("retracted")
        notice = ", ".join(after.retraction_pmids)
        details.append(f"retracted per {PUBMED}" + (f" (retraction notice PMID {notice})" if notice else ""))
    if after.has_expression_of_concern and not before.has_expression_of_concern:
        kinds.append("expression_of_concern")
        details.append(f"expression of concern published per {PUBMED}")
    new_errata = sorted(set(after.erratum_pmids) - set(before.erratum_pmids))
    if new_errata:
        kinds.append("erratum")
        details.append(f"erratum published per {PUBMED} (PMID " + ", ".join(new_errata) + ")")
    added = sorted(set(after.publication_type_names) - set(before.publication_type_names))
    removed = sorted(set(before.publication_type_names) - set(after.publication_type_names))
    if (added or removed) and not kinds:
        kinds.append("publication_types")
    if added or removed:
        change = [f"+{t}" for t in added] + [f"-{t}" for t in removed]
        details.append(f"{PUBMED} publication types " + ", ".join(change))
    if not kinds:
        return None
    rereview = bool({"retracted", "expression_of_concern", "erratum"} & set(kinds)) or bool(added or removed)
    return StudyChange(after.pmid, tuple(kinds), "; ".join(details), rereview)


def notice_change(pmid: str, notices: Sequence[Notice]) -> StudyChange | None:
    """New Retraction Watch notices about a graded study, as one change (None when there are none).
    Every nature can alter a grade (a reinstatement too: the study may count again)."""
    if not notices:
        return None
    kinds = tuple(dict.fromkeys(NOTICE_KINDS.get(n.nature, "notice") for n in notices))
    return StudyChange(
        pmid,
        kinds,
        "; ".join(n.describe() for n in notices),
        needs_rereview=True,
        sources=(SOURCE_NAME,),
        notice_ids=tuple(n.record_id for n in notices),
    )


def merge_changes(first: StudyChange | None, second: StudyChange | None) -> StudyChange | None:
    """Two sources' changes to one study in the same run, as one."""
    if first is None or second is None:
        return first or second
    return StudyChange(
        first.pmid,
        tuple(dict.fromkeys((*first.kinds, *second.kinds))),
        f"{first.detail}; {second.detail}",
        first.needs_rereview or second.needs_rereview,
        tuple(dict.fromkeys((*first.sources, *second.sources))),
        (*first.notice_ids, *second.notice_ids),
    )


def standing_status(article: Article | None, notices: Sequence[Notice]) -> list[str]:
    """A study's retraction status today, one entry per source's statement (for exports)."""
    out: list[str] = []
    if article is not None and article.is_retracted:
        notice = ", ".join(article.retraction_pmids)
        out.append(f"retracted per {PUBMED}" + (f" (retraction notice PMID {notice})" if notice else ""))
    if article is not None and article.has_expression_of_concern:
        out.append(f"expression of concern per {PUBMED}")
    if article is not None and article.erratum_pmids:
        out.append(f"erratum per {PUBMED} (PMID {', '.join(article.erratum_pmids)})")
    out.extend(n.describe() for n in notices)
    return out


def with_notices(article: Article, notices: Sequence[Notice]) -> Article:
    """The record as the evidence rules should see it: a retraction or expression of concern that only
    Retraction Watch reports becomes a link like PubMed's own (RetractionIn / ExpressionOfConcernIn),
    its source naming the Retraction Watch record; a later reinstatement cancels a retraction."""
    standing: dict[str, Notice] = {}
    for notice in sorted(notices, key=lambda n: (n.notice_date or "", int(n.record_id))):
        if notice.nature == "reinstatement":
            standing.pop("retraction", None)
        elif notice.nature in ("retraction", "expression_of_concern"):
            standing[notice.nature] = notice
    links = []
    if "retraction" in standing and not article.is_retracted:
        links.append((RETRACTION_IN, standing["retraction"]))
    if "expression_of_concern" in standing and not article.has_expression_of_concern:
        links.append((EXPRESSION_OF_CONCERN_IN, standing["expression_of_concern"]))
    if not links:
        return article
    added = tuple(
        CommentCorrection(ref_type, n.notice_pmid, f"{SOURCE_NAME} record {n.record_id}")
        for ref_type, n in links
    )
    return dataclasses.replace(article, comments_corrections=(*article.comments_corrections, *added))
