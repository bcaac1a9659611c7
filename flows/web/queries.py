"""SQL the web app needs that no store module offers yet (a candidate for flows/store/searches.py).

Takes an open connection from flows.store.db.connect; never imports duckdb itself. User text only
ever reaches SQL as a bound parameter.
"""

from __future__ import annotations

from typing import Any


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_claim_studies(
    con: Any, project: str, claim_id: str, text: str, limit: int = 50
) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT a.pmid, a.title FROM claim_hits h JOIN articles a USING (pmid) "
        "WHERE h.project = ? AND h.claim_id = ? "
        "AND (a.title ILIKE ? ESCAPE '\\' OR a.abstract_text ILIKE ? ESCAPE '\\') "
        "ORDER BY a.pub_year DESC NULLS LAST, a.pmid LIMIT ?",
        [project, claim_id, _like_pattern(text), _like_pattern(text), limit],
    ).fetchall()
    return [(str(pmid), str(title)) for pmid, title in rows]
