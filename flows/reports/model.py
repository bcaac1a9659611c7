"""What a claim's evidence report and the article scorecard say, as plain JSON-ready data.

Pure: no store, no files, no clock. The JSON written to disk *is* this data, and the HTML and
Markdown templates render from it, so the three formats can never disagree. Everything here is
deterministic for the same inputs (sorted, no timestamps but those in the data).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from flows.curation.events import FinalGrade
from flows.curation.ladder import load_ladder
from flows.evidence.rating import Rating, RatingRules, load_rules, rate_claim
from flows.evidence.retraction_watch import SOURCE_NAME
from flows.ids import is_pmid
from flows.project.claims import Claim, SourceArticle
from flows.pubmed.records import (
    EXPRESSION_OF_CONCERN_IN,
    RETRACTED_PUBLICATION_TYPE,
    RETRACTION_IN,
    Article,
)
from flows.reports.sof import build_sof, step_json
from flows.sources.runs import SearchRun

CLAIM_SCHEMA_ID = "litgrade.claim-report/2"
OLDER_CLAIM_SCHEMA_IDS = ("litgrade.claim-report/1",)  # still compared with: same decisions, older rating
SCORECARD_SCHEMA_ID = "litgrade.scorecard/2"
SCORECARD_SOF_KEYS = ("outcome", "label", "studies", "participants", "participants_unknown", "direction",
                      "direction_label", "certainty", "symbols")  # fmt: skip
APPRAISAL_FIELDS = ("bias_domain", "exposure", "indirectness", "indirect_reason", "outcome", "outcome_kind")
_RECORDS = re.compile(r"([0-9][0-9,]*)\s+records?\b")
MAX_AUTHORS = 3
SNAPSHOT_NOTE_TEMPLATE = (
    "This evidence rests on an offline snapshot of {n} records, not a live PubMed search."
)

Json = dict[str, Any]
# Column headers of the scorecard, where the ladder's full labels would not fit a phone.
SHORT_LEVEL_LABELS = {
    "systematic_review": "SR/MA",
    "rct": "RCT",
    "nonrandomized_trial": "Non-RCT",
    "human_observational": "Observ.",
    "animal": "Animal",
    "in_vitro": "In vitro",
    "narrative_review": "Review",
    "case_report": "Case",
    "other": "Other",
}


@dataclass(frozen=True, slots=True)
class ClaimInputs:
    """Everything one claim's report is built from (read from the store and grade files by report.py)."""

    project: str
    article: SourceArticle
    claim: Claim
    runs: Sequence[SearchRun]  # this claim's search runs, oldest first
    identified: Mapping[int, int]  # run_id -> records that run found (run_hits)
    hits: Sequence[str]  # every PMID any of the claim's runs found, once
    articles: Mapping[str, Article]  # stored records (hits not yet fetched are absent)
    final_grades: Sequence[FinalGrade]
    states: Mapping[str, str] = field(default_factory=dict)  # pmid -> ungraded|partial|conflict|final
    previous: Mapping[str, Any] | None = None  # the claim's previous report JSON, if any
    snapshot_note: str | None = None  # overrides the mirror sentence; "{n}" = snapshot size


def _iso(value: object) -> str | None:
    if value is None:
        return None
    iso = getattr(value, "isoformat", None)
    return str(iso(timespec="seconds")) if iso else str(value)


def safe_url(url: str | None) -> str | None:
    """Only http(s) links from outside data become hrefs."""
    if not url:
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def pubmed_url(pmid: str) -> str | None:
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if is_pmid(pmid) else None


def doi_url(doi: str | None) -> str | None:
    return f"https://doi.org/{quote(doi, safe='/:;()._-')}" if doi else None


def fingerprint(data: Mapping[str, Any]) -> str:
    """sha256 of the compact sorted JSON (json.dumps with sort_keys, ensure_ascii=False and separators
    (",", ":")). orjson gives those bytes for report data (no floats) several times faster; data it
    refuses (non-string keys, huge ints) goes through json, so the digest is the same either way."""
    try:
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        raw = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


# -- search provenance -----------------------------------------------------------------------------


def snapshot_sentence(run: SearchRun, override: str | None = None) -> str | None:
    """The plain statement that a mirror run was not a live PubMed search (None for live runs).

    Order of precedence: a `snapshot_note` key in the run's source_detail (when it is JSON), the
    `override` option, then the default sentence with N read from "…, N records" in source_detail.
    """
    if run.source != "mirror":
        return None
    detail = run.source_detail or ""
    note: str | None = None
    try:
        parsed = json.loads(detail)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        note = parsed.get("snapshot_note") or None
        detail = str(parsed.get("detail", ""))
    found = _RECORDS.search(detail)
    size = found.group(1).replace(",", "") if found else None
    template = note or override
    if template:
        return template.replace("{n}", size or "?")
    if size:
        return SNAPSHOT_NOTE_TEMPLATE.format(n=size)
    suffix = f" ({detail})" if detail else ""
    return f"This evidence rests on an offline snapshot{suffix}, not a live PubMed search."


def last_successful_run(runs: Sequence[SearchRun]) -> SearchRun | None:
    """The newest completed run: "evidence as of" is its finished_at (data, never the clock)."""
    done = [r for r in runs if r.status == "completed"]
    return max(done, key=lambda r: r.run_id) if done else None


def _run_row(run: SearchRun, identified: Mapping[int, int], override: str | None) -> Json:
    notes = {**run.errors, **run.warnings}
    return {
        "run_id": run.run_id,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "status": run.status,
        "source": run.source,
        "source_detail": run.source_detail,
        "snapshot_note": snapshot_sentence(run, override),
        "approximation": run.approximation,
        "query": run.query,
        "query_translation": run.query_translation,
        "incremental": run.incremental,
        "window": [run.mindate, run.maxdate] if run.mindate or run.maxdate else None,
        "result_count": run.result_count,
        "identified": int(identified.get(run.run_id, 0)),
        "new": run.new_pmids,
        "error": run.error,
        "ncbi_notes": [f"{k}: {', '.join(v)}" for k, v in sorted(notes.items()) if v],
    }


def newest_record(hits: Sequence[str], articles: Mapping[str, Article]) -> Json | None:
    """The newest record the searches found, by its publication date as PubMed gives it."""
    found = [articles[p] for p in hits if p in articles and articles[p].pub_date.sort_date]
    if not found:
        return None
    article = max(found, key=lambda a: (a.pub_date.sort_date or "", _pmid_key(a.pmid)))
    day = article.pub_date.sort_date or ""
    return {"pmid": article.pmid, "date": article.pub_date.raw or day, "sort_date": day}


def _search_block(inputs: ClaimInputs, history: list[Json]) -> Json:
    last_run = last_successful_run(inputs.runs)
    last_row = next((row for row in history if last_run and row["run_id"] == last_run.run_id), None)
    return {
        "query": inputs.claim.query,
        "translation": last_run.query_translation if last_run else None,
        "evidence_as_of": last_row["finished_at"] if last_row else None,
        "source": last_run.source if last_run else None,
        "source_detail": last_run.source_detail if last_run else None,
        "snapshot_note": last_row["snapshot_note"] if last_row else None,
        "approximation": last_run.approximation if last_run else None,
        "query_changed": bool(last_run and last_run.query != inputs.claim.query),
        "newest_record": newest_record(inputs.hits, inputs.articles),
    }


# -- studies ---------------------------------------------------------------------------------------


def _authors(article: Article | None) -> str:
    """The first MAX_AUTHORS named authors, "et al." if there are more (each name built once, and
    no further than the one that shows there are more)."""
    if article is None:
        return ""
    names: list[str] = []
    for author in article.authors:
        if name := author.display:
            names.append(name)
            if len(names) > MAX_AUTHORS:
                return ", ".join(names[:MAX_AUTHORS]) + " et al."
    return ", ".join(names)


def _label_or_none(vocabulary: str, value: str | None) -> str | None:
    return load_ladder().label(vocabulary, value) if value else None


_RECORD_FIELDS: dict[int, tuple[Article, Json]] = {}  # id(record) -> (the record, its study fields)
_RECORD_FIELDS_MAX = 20_000


def _record_fields(article: Article | None) -> Json:
    """A study's fields that come from its stored record. Memoised per record object: the same record
    is a study of every claim whose search found it (most of a report's build time was these). An
    entry holds its record, so its id is not reused while it is cached, and it counts only for that
    very object: a record read again (another report, a changed record) is a new entry."""
    if article is None:
        return dict(_NO_RECORD)
    hit = _RECORD_FIELDS.get(id(article))
    if hit is None or hit[0] is not article:
        if len(_RECORD_FIELDS) >= _RECORD_FIELDS_MAX:
            _RECORD_FIELDS.clear()
        hit = (article, _fields_of(article))
        _RECORD_FIELDS[id(article)] = hit
    return dict(hit[1])


def _fields_of(article: Article) -> Json:
    return {
        "in_store": True,
        "title": article.title,
        "title_html": article.title_html or "",
        "authors": _authors(article),
        "year": article.pub_date.year,
        "pub_date": article.pub_date.sort_date,
        "journal": article.journal.iso_abbreviation or article.journal.title,
        "doi": article.doi,
        "doi_url": doi_url(article.doi),
        "retracted": bool(article.is_retracted),
        "expression_of_concern": bool(article.has_expression_of_concern),
    }


_NO_RECORD: Json = {
    "in_store": False,
    "title": "(record not yet fetched from PubMed)",
    "title_html": "",
    "authors": "",
    "year": None,
    "pub_date": None,
    "journal": None,
    "doi": None,
    "doi_url": None,
    "retracted": False,
    "expression_of_concern": False,
}


def _study(
    grade: FinalGrade,
    article: Article | None,
    rests_on: set[str],
    counted: set[str],
    outcomes: Mapping[str, str],
) -> Json:
    ladder = load_ladder()
    return {
        "pmid": grade.pmid,
        "pubmed_url": pubmed_url(grade.pmid),
        **_record_fields(article),
        "level": grade.level or "other",
        "level_label": ladder.label("levels", grade.level or "other"),
        "direction": grade.direction or "unclear",
        "direction_label": ladder.label("directions", grade.direction or "unclear"),
        "population": grade.population,
        "risk_of_bias": grade.risk_of_bias,
        "risk_of_bias_label": _label_or_none("risk_of_bias", grade.risk_of_bias),
        "bias_domain": grade.bias_domain,
        "bias_domain_label": _label_or_none("bias_domains", grade.bias_domain),
        "exposure": grade.exposure,
        "indirectness": grade.indirectness,
        "indirectness_label": _label_or_none("indirectness", grade.indirectness),
        "indirect_reason": grade.indirect_reason,
        "outcome": grade.outcome,
        "outcome_label": outcomes.get(grade.outcome or "") if grade.outcome else None,
        "outcome_kind": grade.outcome_kind,
        "outcome_kind_label": _label_or_none("outcome_kinds", grade.outcome_kind),
        "note": grade.note,
        "quote": grade.quote,
        "decided_by": grade.decided_by,
        "self_adjudicated": grade.self_adjudicated,
        "curators": list(grade.curators),
        "counted": grade.pmid in counted,
        "rating_rests_on": grade.pmid in rests_on,
    }


def _flags(
    hits: Sequence[str], articles: Mapping[str, Article], grades: Mapping[str, FinalGrade]
) -> list[Json]:
    out = []
    for pmid in sorted(hits, key=_pmid_key):
        article = articles.get(pmid)
        if article is None or not (article.is_retracted or article.has_expression_of_concern):
            continue
        grade = grades.get(pmid)
        out.append(
            {
                "pmid": pmid,
                "pubmed_url": pubmed_url(pmid),
                "title": article.title,
                "retracted": article.is_retracted,
                "expression_of_concern": article.has_expression_of_concern,
                "notices": list(article.retraction_pmids),
                "sources": notice_sources(article),
                "decision": grade.relevance if grade else "not graded",
            }
        )
    return out


def notice_sources(article: Article) -> list[str]:
    """Who says a record is retracted or under concern: "PubMed" (its publication type or its own
    comment link) and/or each Retraction Watch record (links added by `litgrade retractions ingest`)."""
    out: list[str] = []
    if RETRACTED_PUBLICATION_TYPE in article.publication_type_names:
        out.append("PubMed")
    for link in article.comments_corrections:
        if link.ref_type not in (RETRACTION_IN, EXPRESSION_OF_CONCERN_IN):
            continue
        source = link.source if link.source and link.source.startswith(SOURCE_NAME) else "PubMed"
        if source not in out:
            out.append(source)
    return out


def _excluded(grades: Mapping[str, FinalGrade], articles: Mapping[str, Article]) -> list[Json]:
    """Excluded records with their reason: PRISMA's "excluded" box, item by item."""
    ladder = load_ladder()
    out = []
    for pmid in sorted(grades, key=_pmid_key):
        grade = grades[pmid]
        if grade.relevance != "exclude":
            continue
        article = articles.get(pmid)
        out.append(
            {
                "pmid": pmid,
                "pubmed_url": pubmed_url(pmid),
                "title": article.title if article else "(record not yet fetched from PubMed)",
                "reason": grade.exclude_reason or "other",
                "reason_label": ladder.label("exclude_reasons", grade.exclude_reason or "other"),
                "note": grade.note,
                "retracted": bool(article and article.is_retracted),
                "expression_of_concern": bool(article and article.has_expression_of_concern),
            }
        )
    return out


def _pmid_key(pmid: str) -> tuple[int, str]:
    return (int(pmid), pmid) if pmid.isdigit() else (1 << 62, pmid)


# -- counts ----------------------------------------------------------------------------------------


def levels_best_first() -> list[str]:
    """Primary levels strongest first, then the non-primary ones (shown, never counted)."""
    ladder = load_ladder()
    return [lv.id for lv in sorted(reversed(ladder.levels), key=lambda lv: not lv.primary)]


def _matrix(counts: Mapping[str, Mapping[str, int]]) -> Json:
    ladder = load_ladder()
    rows = []
    by_id = {lv.id: lv for lv in ladder.levels}
    for level_id in levels_best_first():
        level = by_id[level_id]
        row = counts.get(level.id, {})
        rows.append(
            {
                "level": level.id,
                "label": level.label,
                "primary": level.primary,
                "counts": {d.id: int(row.get(d.id, 0)) for d in ladder.directions},
                "total": int(sum(row.values())),
            }
        )
    return {
        "directions": [{"id": d.id, "label": d.label} for d in ladder.directions],
        "levels": rows,
        "total": sum(r["total"] for r in rows),
    }


def _prisma(inputs: ClaimInputs, history: list[Json], grades: Mapping[str, FinalGrade]) -> Json:
    ladder = load_ladder()
    identified_total = sum(r["identified"] for r in history)
    unique = len(inputs.hits)
    by_reason: dict[str, int] = {}
    included = included_retracted = awaiting = conflict = 0
    for pmid in inputs.hits:
        grade = grades.get(pmid)
        if grade is not None:
            if grade.relevance == "exclude":
                reason = grade.exclude_reason or "other"
                by_reason[reason] = by_reason.get(reason, 0) + 1
            else:
                article = inputs.articles.get(pmid)
                if article is not None and article.is_retracted:
                    included_retracted += 1
                else:
                    included += 1
        elif inputs.states.get(pmid) == "conflict":
            conflict += 1
        else:
            awaiting += 1
    reason_order = [r.id for r in ladder.exclude_reasons]
    excluded = [
        {"reason": r, "label": ladder.label("exclude_reasons", r), "n": by_reason[r]}
        for r in sorted(by_reason, key=lambda r: (reason_order.index(r) if r in reason_order else 99, r))
    ]
    return {
        "identified_per_run": [
            {"run_id": r["run_id"], "date": r["finished_at"] or r["started_at"], "n": r["identified"]}
            for r in history
        ],
        "identified_total": identified_total,
        "duplicates": identified_total - unique,
        "unique": unique,
        "not_retrieved": sum(1 for p in inputs.hits if p not in inputs.articles),
        "screened": sum(by_reason.values()) + included + included_retracted,
        "excluded_total": sum(by_reason.values()),
        "excluded_by_reason": excluded,
        "included": included + included_retracted,
        "included_counted": included,
        "included_retracted": included_retracted,
        "awaiting_grading": awaiting,
        "in_conflict": conflict,
    }


def _decisions(grades: Mapping[str, FinalGrade]) -> Json:
    return {
        pmid: {
            "relevance": g.relevance,
            "exclude_reason": g.exclude_reason,
            "level": g.level,
            "direction": g.direction,
            "population": g.population,
            "risk_of_bias": g.risk_of_bias,
            **{name: getattr(g, name) for name in APPRAISAL_FIELDS},
        }
        for pmid, g in grades.items()
    }


def _changes(content: Json, previous: Mapping[str, Any] | None) -> Json:
    if not previous or previous.get("schema") not in (CLAIM_SCHEMA_ID, *OLDER_CLAIM_SCHEMA_IDS):
        return {
            "first_report": True,
            "previous_evidence_as_of": None,
            "new_studies": [],
            "removed_studies": [],
            "grades_changed": [],
            "rating_changed": None,
        }
    before: Mapping[str, Any] = previous.get("decisions", {})
    after: Mapping[str, Any] = content["decisions"]
    included_before = {p for p, d in before.items() if d.get("relevance") == "include"}
    included_after = {p for p, d in after.items() if d.get("relevance") == "include"}
    changed = []
    for pmid in sorted(set(before) & set(after), key=_pmid_key):
        if before[pmid] != after[pmid]:
            fields = sorted(k for k in after[pmid] if before[pmid].get(k) != after[pmid][k])
            changed.append(
                {
                    "pmid": pmid,
                    "fields": fields,
                    "before": {k: before[pmid].get(k) for k in fields},
                    "after": {k: after[pmid][k] for k in fields},
                }
            )
    old_rating = previous.get("rating", {}).get("id")
    new_rating = content["rating"]["id"]
    return {
        "first_report": False,
        "previous_evidence_as_of": previous.get("search", {}).get("evidence_as_of"),
        "new_studies": sorted(included_after - included_before, key=_pmid_key),
        "removed_studies": sorted(included_before - included_after, key=_pmid_key),
        "grades_changed": changed,
        "rating_changed": {"from": old_rating, "to": new_rating} if old_rating != new_rating else None,
    }


# -- the report ------------------------------------------------------------------------------------


def _rating_block(rating: Rating, rules: RatingRules) -> Json:
    level = rules.level(rating.certainty) if rating.certainty else None
    return {
        "id": rating.rating,
        "label": rating.label,
        "color": rating.color,
        "direction": rating.direction,
        "direction_label": rules.verdict(rating.direction).label,
        "certainty": rating.certainty,
        "certainty_label": level.label if level else None,
        "certainty_symbols": level.symbols if level else None,
        "downgrades": [step_json(s, o) for o, s in rating.steps("down")],
        "upgrades": [step_json(s, o) for o, s in rating.steps("up")],
        "rule_id": rating.rule_id,
        "explanation": rating.explanation,
        "would_change": rating.would_change,
        "rests_on": list(rating.rests_on),
        "top_level": rating.top_level,
        "counted": rating.counted,
        "retracted_not_counted": list(rating.retracted),
    }


def build_claim_report(inputs: ClaimInputs, rules: RatingRules | None = None) -> Json:
    """One claim's report data. `changes` compares with `inputs.previous`; a previous report with the
    same content keeps its `changes`, so regenerating from unchanged data rewrites identical bytes."""
    rules = rules or load_rules()
    hit_set = set(inputs.hits)
    grades = {g.pmid: g for g in inputs.final_grades if g.pmid in hit_set}
    rating = rate_claim(grades.values(), inputs.articles, rules, inputs.claim)
    history = [_run_row(r, inputs.identified, inputs.snapshot_note) for r in inputs.runs]
    rests_on = set(rating.rests_on)
    counted = {g.pmid for g in grades.values() if g.relevance == "include"} - set(rating.retracted)
    outcome_labels = {o.id: o.label for o in inputs.claim.outcomes}
    level_rank = {lvl: i for i, lvl in enumerate(levels_best_first())}
    included = [g for g in grades.values() if g.relevance == "include"]
    studies = sorted(
        (_study(g, inputs.articles.get(g.pmid), rests_on, counted, outcome_labels) for g in included),
        key=lambda s: (
            level_rank.get(s["level"], 99),
            s["retracted"],
            -(s["year"] or 0),
            _pmid_key(s["pmid"]),
        ),
    )
    groups: list[Json] = []
    for study in studies:
        if not groups or groups[-1]["level"] != study["level"]:
            groups.append({"level": study["level"], "label": study["level_label"], "studies": []})
        groups[-1]["studies"].append(study)
    content: Json = {
        "schema": CLAIM_SCHEMA_ID,
        "project": inputs.project,
        "article": {
            "title": inputs.article.title,
            "url": safe_url(inputs.article.url),
            "date_read": inputs.article.date_read,
        },
        "claim": {
            "id": inputs.claim.id,
            "text": inputs.claim.text,
            "query": inputs.claim.query,
            "section": inputs.claim.section,
            "comment": inputs.claim.comment,
            "population": inputs.claim.population,
            "exposure": inputs.claim.exposure,
            "outcomes": [{"id": o.id, "label": o.label, "kind": o.kind} for o in inputs.claim.outcomes],
        },
        "search": _search_block(inputs, history),
        "history": history,
        "rating": _rating_block(rating, rules),
        "sof": build_sof(rating.outcomes, rules),
        "matrix": _matrix(rating.counts),
        "prisma": _prisma(inputs, history, grades),
        "studies": groups,
        "excluded": _excluded(grades, inputs.articles),
        "flags": _flags(inputs.hits, inputs.articles, grades),
        "decisions": _decisions({p: grades[p] for p in sorted(grades, key=_pmid_key)}),
    }
    digest = fingerprint(content)
    if inputs.previous and inputs.previous.get("fingerprint") == digest and "changes" in inputs.previous:
        changes = dict(inputs.previous["changes"])
    else:
        changes = _changes(content, inputs.previous)
    return {**content, "changes": changes, "fingerprint": digest}


def _newest(report: Json) -> Json | None:
    best: Json | None = None
    for group in report["studies"]:
        for s in group["studies"]:
            if not s["counted"]:
                continue
            key = (s["pub_date"] or "", _pmid_key(s["pmid"]))
            if best is None or key > (best["pub_date"] or "", _pmid_key(best["pmid"])):
                best = s
    if best is None:
        return None
    return {
        k: best[k] for k in ("pmid", "pubmed_url", "title", "title_html", "year", "pub_date", "level_label")
    }


def _counted_pmids(report: Json) -> list[str]:
    return [s["pmid"] for g in report["studies"] for s in g["studies"] if s["counted"]]


def shared_studies(reports: Sequence[Json]) -> list[Json]:
    """Studies counted under more than one claim: one 42-person trial behind three claims shows."""
    claims_of: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for report in reports:
        for group in report["studies"]:
            for s in group["studies"]:
                if s["counted"]:
                    claims_of.setdefault(s["pmid"], []).append(report["claim"]["id"])
                    titles[s["pmid"]] = s["title"]
    return [
        {"pmid": p, "pubmed_url": pubmed_url(p), "title": titles[p], "claims": claims}
        for p, claims in sorted(claims_of.items(), key=lambda kv: _pmid_key(kv[0]))
        if len(claims) > 1
    ]


def build_scorecard(
    project: str, article: SourceArticle, reports: Sequence[Json], rules: RatingRules | None = None
) -> Json:
    """The article scorecard: one row per claim, in the order of claims.yaml."""
    rules = rules or load_rules()
    ladder = load_ladder()
    shared = shared_studies(reports)
    shared_by_pmid = {s["pmid"]: s["claims"] for s in shared}
    rows = []
    for report in reports:
        prisma = report["prisma"]
        rating = report["rating"]
        claim_id = report["claim"]["id"]
        rows.append(
            {
                "id": claim_id,
                "text": report["claim"]["text"],
                "section": report["claim"]["section"],
                "rating": rating["id"],
                "rating_label": rating["label"],
                "rating_color": rating["color"],
                "direction": rating["direction"],
                "direction_label": rating["direction_label"],
                "certainty": rating["certainty"],
                "certainty_label": rating["certainty_label"],
                "certainty_symbols": rating["certainty_symbols"],
                "downgrades": [{"domain": d["domain"], "reason": d["reason"]} for d in rating["downgrades"]],
                "upgrades": [{"domain": u["domain"], "reason": u["reason"]} for u in rating["upgrades"]],
                "rule_id": rating["rule_id"],
                "sof": [{k: row[k] for k in SCORECARD_SOF_KEYS} for row in report["sof"]["rows"]],
                "shared_studies": [
                    {"pmid": p, "also_in": [c for c in shared_by_pmid[p] if c != claim_id]}
                    for p in _counted_pmids(report)
                    if p in shared_by_pmid
                ],
                "counts_by_level": {r["level"]: r["total"] for r in report["matrix"]["levels"]},
                "included": prisma["included"],
                "newest_study": _newest(report),
                "evidence_as_of": report["search"]["evidence_as_of"],
                "newest_record": report["search"]["newest_record"],
                "snapshot_note": report["search"]["snapshot_note"],
                "flags": len(report["flags"]),
                "open_work": {
                    "awaiting_grading": prisma["awaiting_grading"],
                    "in_conflict": prisma["in_conflict"],
                    "not_retrieved": prisma["not_retrieved"],
                },
                "rating_changed": report["changes"]["rating_changed"],
            }
        )
    by_id = {lv.id: lv for lv in ladder.levels}
    dates = [r["evidence_as_of"] for r in rows if r["evidence_as_of"]]
    records = [r["newest_record"] for r in rows if r["newest_record"]]
    notes = sorted({r["snapshot_note"] for r in rows if r["snapshot_note"]})
    return {
        "schema": SCORECARD_SCHEMA_ID,
        "project": project,
        "article": {"title": article.title, "url": safe_url(article.url), "date_read": article.date_read},
        "evidence_as_of": max(dates) if dates else None,
        "newest_record": (
            max(records, key=lambda r: (r["sort_date"], _pmid_key(r["pmid"]))) if records else None
        ),
        "snapshot_notes": notes,
        # primary levels always (best first); the others only when some claim has such a study
        "levels": [
            {"id": lv.id, "label": lv.label, "short": SHORT_LEVEL_LABELS.get(lv.id, lv.label)}
            for lv in (by_id[i] for i in levels_best_first())
            if lv.primary or any(row["counts_by_level"].get(lv.id) for row in rows)
        ],
        "ratings": [
            {
                "id": v.id,
                "label": v.label,
                "color": v.color,
                "n": sum(1 for row in rows if row["direction"] == v.id),
            }
            for v in rules.verdicts
        ],
        "certainty_levels": [
            {
                "id": c.id,
                "label": c.label,
                "symbols": c.symbols,
                "color": c.color,
                "n": sum(1 for row in rows if row["certainty"] == c.id),
            }
            for c in rules.certainty
        ],
        "shared_studies": shared,
        "claims": rows,
    }
