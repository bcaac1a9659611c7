"""Grades in DuckDB: loaded in bulk, replaced on each load, joinable with the stored articles."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from flows.curation.events import FinalGrade
from flows.curation.journal import append_event, read_events
from flows.curation.review import final_grades
from flows.project.claims import load_project
from flows.store.db import connect
from flows.store.grades import load_grades, load_project_grades, read_final_grades
from tests.grading_fixtures import build_store, ev, k2_articles, write_project


def test_load_replaces_and_joins_with_articles(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    project = load_project(folder)
    articles = k2_articles(3)
    db = tmp_path / "store.duckdb"
    build_store(db, project.name, {"k2-calcification": articles})
    a, b, c = (x.pmid for x in articles)
    append_event(folder, ev("alice", a, population=4807, note="cohort"))
    append_event(folder, ev("bob", a, minute=1))
    append_event(folder, ev("alice", b, level="animal", minute=2))
    append_event(folder, ev("bob", b, level="in_vitro", minute=3))
    append_event(folder, ev("alice", c, "exclude", minute=4))
    with connect(db) as con:
        counts = load_project_grades(con, project)
        # a agreed; c excluded by one reviewer so far (decided_by "single")
        assert (counts.events, counts.final) == (5, 2)
        again = load_project_grades(con, project)  # idempotent: replaced, not doubled
        assert again == counts
        assert con.execute("SELECT count(*) FROM grade_events").fetchone() == (5,)
        row = con.execute(
            "SELECT a.title, f.level, f.direction, f.population, f.curators, f.decided_by, f.decided_at "
            "FROM final_grades f JOIN articles a USING (pmid) WHERE f.project = ? AND f.decided_by = 'agreement'",
            [project.name],
        ).fetchall()
        assert row == [(articles[0].title, "rct", "supports", 4807, ["alice", "bob"], "agreement",
                        row[0][6])]
        assert str(row[0][6]) == "2026-11-24 09:01:00"
        stored = read_final_grades(con, project.name)
        assert next(f for f in stored if f.pmid == a).decided_at == "2026-11-24T09:01:00.000000Z"
        expected = final_grades(project, read_events(folder))
        def by_pmid(grades: list[FinalGrade]) -> list[FinalGrade]:
            return sorted((replace(f, decided_at="") for f in grades), key=lambda f: f.pmid)

        assert by_pmid(stored) == by_pmid(expected)
        # Another project's load leaves this one alone; an empty load clears only its own rows.
        load_grades(con, "other", [ev("alice", a)], [])
        load_grades(con, project.name, [], [])
        assert con.execute("SELECT project, count(*) FROM grade_events GROUP BY 1").fetchall() == [("other", 1)]
        assert con.execute("SELECT count(*) FROM final_grades").fetchone() == (0,)
