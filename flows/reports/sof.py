"""The Summary-of-Findings table of a claim (GRADEpro style), as data and as CSV / Markdown files.

Pure: a claim's Rating in, JSON-ready rows and numbered footnotes out (one footnote per downgrade or
upgrade, shared by the rows it explains), and the two export texts from that same data, so the
report, the CSV and the Markdown cannot disagree. The CSV is formula-safe: a cell a spreadsheet would
run as a formula starts with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flows.curation.ladder import load_ladder
from flows.evidence.certainty import OutcomeCertainty, Step
from flows.evidence.certainty_rules import CertaintyRules
from flows.pubmed.text import strip_controls

Json = dict[str, Any]
NO_CERTAINTY = "—"
CSV_COLUMNS = (
    "outcome",
    "kind",
    "studies",
    "studies_rating_it",
    "designs",
    "participants",
    "participants_not_stated",
    "direction",
    "certainty",
    "symbols",
    "reasons",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def step_json(step: Step, outcome: OutcomeCertainty | None = None) -> Json:
    out: Json = {
        "domain": step.domain,
        "reason": step.reason,
        "levels": step.levels,
        "pmids": list(step.pmids),
    }
    if outcome is not None:
        out["outcome"] = outcome.outcome
    return out


def _designs(row: OutcomeCertainty) -> list[Json]:
    ladder = load_ladder()
    return [
        {"level": level, "label": ladder.label("levels", level), "n": n}
        for level in reversed(ladder.level_ids)
        if (n := row.designs.get(level))
    ]


def build_sof(rows: tuple[OutcomeCertainty, ...], rules: CertaintyRules) -> Json:
    """Rows in claims.yaml order; footnotes numbered in order of first use."""
    ladder = load_ladder()
    notes: list[Json] = []
    index: dict[tuple[str, str, str], int] = {}

    def note(kind: str, step: Step) -> int:
        key = (kind, step.domain, step.reason)
        if key not in index:
            index[key] = len(notes) + 1
            notes.append(
                {
                    "n": index[key],
                    "kind": kind,
                    "domain": step.domain,
                    "levels": step.levels,
                    "text": step.reason,
                    "pmids": list(step.pmids),
                }
            )
        return index[key]

    out_rows = []
    for row in rows:
        level = rules.level(row.certainty) if row.certainty else None
        refs = [note("down", s) for s in row.downgrades] + [note("up", s) for s in row.upgrades]
        out_rows.append(
            {
                "outcome": row.outcome,
                "label": capital(row.label),
                "kind": row.kind,
                "kind_label": ladder.label("outcome_kinds", row.kind).split(" (")[0] if row.kind else None,
                "studies": len(row.studies),
                "body_studies": len(row.body),
                "designs": _designs(row),
                "participants": row.participants,
                "participants_unknown": row.participants_unknown,
                "tier": row.tier,
                "direction": row.direction,
                "direction_label": rules.verdict(row.direction).label,
                "certainty": row.certainty,
                "certainty_label": level.label if level else None,
                "symbols": level.symbols if level else NO_CERTAINTY,
                "footnotes": refs,
                "explanation": row.explanation,
                "would_change": list(row.would_change),
                "body": list(row.body),
            }
        )
    return {"rows": out_rows, "footnotes": notes}


def _participants(row: Json) -> str:
    if not row["body_studies"]:
        return ""
    text = f"{row['participants']:,}" if row["tier"] != "lab" else "n/a (laboratory)"
    if row["participants_unknown"] and row["tier"] != "lab":
        text += f" (+{row['participants_unknown']} not stated)"
    return text


def _studies(row: Json) -> str:
    designs = ", ".join(f"{d['n']} {d['label']}" for d in row["designs"])
    if not designs:
        return str(row["studies"])
    rate = f"{row['body_studies']} rating it: " if row["body_studies"] != row["studies"] else ""
    return f"{row['studies']} ({rate}{designs})"


def _cell(value: object) -> str:
    text = strip_controls("" if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def sof_csv(sof: Json) -> str:
    """One line per outcome; reasons written out in the last column (footnote number: text)."""
    notes = {n["n"]: n for n in sof["footnotes"]}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in sof["rows"]:
        reasons = " | ".join(
            f"{n}. {'Down' if notes[n]['kind'] == 'down' else 'Up'} ({notes[n]['domain']}): "
            f"{notes[n]['text']}"
            for n in row["footnotes"]
        )
        writer.writerow(
            [
                _cell(v)
                for v in (
                    row["label"],
                    row["kind"] or "",
                    row["studies"],
                    row["body_studies"],
                    "; ".join(f"{d['label']}: {d['n']}" for d in row["designs"]),
                    row["participants"] if row["body_studies"] and row["tier"] != "lab" else "",
                    row["participants_unknown"] if row["body_studies"] and row["tier"] != "lab" else "",
                    row["direction_label"],
                    row["certainty_label"] or "",
                    row["symbols"],
                    reasons,
                )
            ]
        )
    return out.getvalue()


def sof_markdown(sof: Json, title: str, md: Any) -> str:
    """A GitHub Markdown table and its footnotes; `md` escapes a cell (flows.reports.render.md)."""
    lines = [
        f"# Summary of findings: {md(title)}",
        "",
        "| Outcome | Studies | Participants | Direction | Certainty |",
        "|---|---|---:|---|---|",
    ]
    for row in sof["rows"]:
        refs = f"<sup>{','.join(str(n) for n in row['footnotes'])}</sup>" if row["footnotes"] else ""
        certainty = f"{row['symbols']} {row['certainty_label']}" if row["certainty"] else NO_CERTAINTY
        kind = f" ({md(row['kind'])})" if row["kind"] else ""
        lines.append(
            f"| {md(row['label'])}{kind} | {md(_studies(row))} | {md(_participants(row))} | "
            f"{md(row['direction_label'])} | {certainty}{refs} |"
        )
    if sof["footnotes"]:
        lines.append("")
        for n in sof["footnotes"]:
            arrow = "Rated down" if n["kind"] == "down" else "Rated up"
            serious = " twice (very serious)" if n["levels"] > 1 else ""
            lines.append(f"{n['n']}. {arrow}{serious} for {n['domain'].replace('_', ' ')}: {md(n['text'])}")
    lines.append("")
    lines.append("Certainty (GRADE): ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low.")
    return "\n".join(lines) + "\n"


def participants_text(row: Json) -> str:
    return _participants(row)


def studies_text(row: Json) -> str:
    return _studies(row)
