"""The digest a scheduled run leaves: only what changed — new studies, re-reviews, ratings, failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from flows.evidence.recheck import StudyChange

NOTHING_NEW = "Nothing new: no new studies, retractions, rating changes or failures."

@dataclass(frozen=True, slots=True)
class NewStudy:
    pmid: str
    title: str


@dataclass(frozen=True, slots=True)
class Rereview:
    claim_id: str
    pmid: str
    title: str
    reason: str
    included: bool  # the study counted towards the rating until now


@dataclass
class Digest:
    project: str
    run_time: str  # ISO, from the run (never the wall clock at render time)
    source: str
    new_studies: dict[str, list[NewStudy]] = field(default_factory=dict)
    rereviews: list[Rereview] = field(default_factory=list)
    other_changes: list[StudyChange] = field(default_factory=list)
    rating_changes: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def nothing_new(self) -> bool:
        """Standing search warnings are repeated below the line but are not news by themselves."""
        return not (
            any(self.new_studies.values())
            or self.rereviews
            or self.other_changes
            or self.rating_changes
            or self.failures
        )

    @property
    def date(self) -> str:
        return self.run_time[:10]


def _md(text: str) -> str:
    """Text from PubMed inside Markdown: no markup, links or tables it could inject."""
    out = " ".join(text.split())
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def render_digest(digest: Digest) -> str:
    head = f"# {digest.project} — evidence digest {digest.date}"
    meta = f"Run {digest.run_time} · source: {digest.source}"
    lines = [head, "", meta, ""]
    if digest.nothing_new:
        lines += [NOTHING_NEW, ""]
    if digest.failures:
        lines += ["## Failed claims (retried on the next run)", ""]
        lines += [f"- **{cid}**: {_md(err)}" for cid, err in sorted(digest.failures.items())]
        lines.append("")
    if digest.rereviews:
        lines += ["## Needs re-review", ""]
        for item in digest.rereviews:
            mark = " — was included: dropped from the rating until re-reviewed" if item.included else ""
            lines.append(
                f"- **{item.claim_id}**: PMID {item.pmid} {_md(item.title)} — {_md(item.reason)}{mark}"
            )
        lines.append("")
    if digest.rating_changes:
        lines += ["## Rating changes", ""]
        for cid, (before, after) in sorted(digest.rating_changes.items()):
            lines.append(f"- **{cid}**: {before or 'none'} → {after}")
        lines.append("")
    if any(digest.new_studies.values()):
        total = sum(len(v) for v in digest.new_studies.values())
        lines += [f"## New studies ({total})", ""]
        for cid, studies in sorted(digest.new_studies.items()):
            if not studies:
                continue
            lines.append(f"- **{cid}** ({len(studies)})")
            lines += [f"  - PMID {s.pmid}: {_md(s.title)}" for s in studies]
        lines.append("")
    if digest.other_changes:
        lines += ["## Other record changes", ""]
        lines += [f"- PMID {c.pmid}: {_md(c.detail)}" for c in digest.other_changes]
        lines.append("")
    if digest.warnings:
        lines += ["## Search warnings", ""]
        for cid, notes in sorted(digest.warnings.items()):
            lines.append(f"- **{cid}**: " + "; ".join(_md(n) for n in notes))
        lines.append("")
    return "\n".join(lines)


def rating_changes(
    before: Mapping[str, str], after: Mapping[str, str], claims: Sequence[str]
) -> dict[str, tuple[str | None, str]]:
    return {
        cid: (before.get(cid), after[cid])
        for cid in claims
        if cid in after and before.get(cid) != after[cid]
    }
