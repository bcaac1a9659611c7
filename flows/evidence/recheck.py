"""What changed in a study that curators already graded: pure comparison of two versions of a record."""

from __future__ import annotations

from dataclasses import dataclass

from flows.pubmed.records import Article


@dataclass(frozen=True, slots=True)
class StudyChange:
    pmid: str
    kinds: tuple[str, ...]  # retracted, expression_of_concern, erratum, publication_types, ...
    detail: str
    needs_rereview: bool  # the change can alter a grade: a curator must look again


def compare_versions(before: Article, after: Article) -> StudyChange | None:
    """The changes between two versions of a graded record that matter for its grade, or None."""
    kinds: list[str] = []
    details: list[str] = []
    if after.is_retracted and not before.is_retracted:
        kinds.append("retracted")
        notice = ", ".join(after.retraction_pmids)
        details.append("retracted" + (f" (retraction notice PMID {notice})" if notice else ""))
    if after.has_expression_of_concern and not before.has_expression_of_concern:
        kinds.append("expression_of_concern")
        details.append("expression of concern published")
    new_errata = sorted(set(after.erratum_pmids) - set(before.erratum_pmids))
    if new_errata:
        kinds.append("erratum")
        details.append("erratum published (PMID " + ", ".join(new_errata) + ")")
    added = sorted(set(after.publication_type_names) - set(before.publication_type_names))
    removed = sorted(set(before.publication_type_names) - set(after.publication_type_names))
    if (added or removed) and not kinds:
        kinds.append("publication_types")
    if added or removed:
        change = [f"+{t}" for t in added] + [f"-{t}" for t in removed]
        details.append("publication types " + ", ".join(change))
    if not kinds:
        return None
    rereview = bool({"retracted", "expression_of_concern", "erratum"} & set(kinds)) or bool(added or removed)
    return StudyChange(after.pmid, tuple(kinds), "; ".join(details), rereview)
