"""Grades in the store, on request: the curators' events and the final grades, bulk-loaded
(pandas/Arrow) and replaced per project by `litgrade grades load`, so people can join them with
`articles` in ad-hoc SQL.

The JSONL files under curated/ stay the truth and everything in litgrade reads them (reports
included); these tables are a re-creatable copy that nothing writes as a side effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd

from flows.curation.events import FinalGrade, GradeEvent
from flows.project.claims import Project
from flows.store.db import transaction

# Appraisal fields (issue 14), as in GradeEvent / FinalGrade; columns added by 060_appraisal.sql.
APPRAISAL = ("bias_domain", "exposure", "indirectness", "indirect_reason", "outcome", "outcome_kind")
EVENT_COLUMNS = (
    "project", "seq", "claim_id", "pmid", "curator", "kind", "relevance", "exclude_reason", "level",
    "direction", "population", "risk_of_bias", *APPRAISAL, "quote", "note", "graded_at",
)
FINAL_COLUMNS = (
    "project", "claim_id", "pmid", "relevance", "exclude_reason", "level", "direction", "population",
    "risk_of_bias", *APPRAISAL, "quote", "note", "curators", "decided_by", "decided_at",
)


@dataclass(frozen=True, slots=True)
class LoadCounts:
    events: int
    final: int


def _utc_naive(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
    return parsed.dt.tz_localize(None).astype("datetime64[us]")


def _events_frame(project: str, events: Sequence[GradeEvent]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {
                "project": project, "seq": seq, "claim_id": e.claim, "pmid": e.pmid, "curator": e.curator,
                "kind": e.kind, "relevance": e.relevance, "exclude_reason": e.exclude_reason,
                "level": e.level, "direction": e.direction, "population": e.population,
                "risk_of_bias": e.risk_of_bias, "quote": e.quote, "note": e.note, "graded_at": e.timestamp,
                **{name: getattr(e, name) for name in APPRAISAL},
            }
            for seq, e in enumerate(events)
        ],
        columns=list(EVENT_COLUMNS),
    )
    frame["population"] = frame["population"].astype("Int64")
    frame["graded_at"] = _utc_naive(frame["graded_at"])
    return frame


def _finals_frame(project: str, finals: Sequence[FinalGrade]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {
                "project": project, "claim_id": f.claim, "pmid": f.pmid, "relevance": f.relevance,
                "exclude_reason": f.exclude_reason, "level": f.level, "direction": f.direction,
                "population": f.population, "risk_of_bias": f.risk_of_bias, "quote": f.quote,
                "note": f.note, "curators": list(f.curators), "decided_by": f.decided_by,
                "decided_at": f.decided_at or None, **{name: getattr(f, name) for name in APPRAISAL},
            }
            for f in finals
        ],
        columns=list(FINAL_COLUMNS),
    )
    frame["population"] = frame["population"].astype("Int64")
    frame["decided_at"] = _utc_naive(frame["decided_at"])
    return frame


def load_grades(
    con: duckdb.DuckDBPyConnection,
    project: str,
    events: Sequence[GradeEvent],
    finals: Sequence[FinalGrade],
) -> LoadCounts:
    """Replace the project's rows in grade_events and final_grades (one transaction)."""
    event_frame = _events_frame(project, events)
    final_frame = _finals_frame(project, finals)
    with transaction(
        con, incoming_grade_events=event_frame, incoming_final_grades=final_frame
    ):
        con.execute("DELETE FROM grade_events WHERE project = ?", [project])
        con.execute("DELETE FROM final_grades WHERE project = ?", [project])
        if not event_frame.empty:
            con.execute(
                f"INSERT INTO grade_events ({', '.join(EVENT_COLUMNS)}) "
                f"SELECT {', '.join(EVENT_COLUMNS)} FROM incoming_grade_events"
            )
        if not final_frame.empty:
            con.execute(
                f"INSERT INTO final_grades ({', '.join(FINAL_COLUMNS)}) "
                f"SELECT {', '.join(FINAL_COLUMNS)} FROM incoming_final_grades"
            )
    return LoadCounts(events=len(event_frame), final=len(final_frame))


def read_final_grades(con: duckdb.DuckDBPyConnection, project: str) -> list[FinalGrade]:
    rows = con.execute(
        "SELECT claim_id, pmid, relevance, exclude_reason, level, direction, population, risk_of_bias, "
        "quote, note, curators, decided_by, strftime(decided_at, '%Y-%m-%dT%H:%M:%S.%fZ'), "
        f"{', '.join(APPRAISAL)} "
        "FROM final_grades WHERE project = ? ORDER BY claim_id, pmid",
        [project],
    ).fetchall()
    return [
        FinalGrade(
            claim=r[0], pmid=r[1], relevance=r[2], exclude_reason=r[3], level=r[4], direction=r[5],
            population=r[6], risk_of_bias=r[7], quote=r[8], note=r[9], curators=tuple(r[10]),
            decided_by=r[11], decided_at=r[12] or "", **dict(zip(APPRAISAL, r[13:], strict=True)),
        )
        for r in rows
    ]


def load_project_grades(con: duckdb.DuckDBPyConnection, project: Project) -> LoadCounts:
    """Read the project's grade files (validated) and replace its rows in the store."""
    from flows.curation.journal import read_events
    from flows.curation.review import final_grades

    events = read_events(project.dir)
    return load_grades(con, project.name, events, final_grades(project, events))
