"""A claim's records list: every study with its status, filtered (mine to do, awaiting a second
grade, in conflict, included, excluded, my maybes, by level), and the curator's own progress."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from flows.curation.ladder import load_ladder
from flows.web import data
from flows.web.deps import ClaimOf, SignedInPage, WebApp
from flows.web.grading_view import RECORD_FILTERS, records_page
from flows.web.pages import HTTPProblem

router = APIRouter()


@router.get("/claims/{claim_id}/records", response_class=HTMLResponse)
def records(
    request: Request, session: SignedInPage, claim: ClaimOf, app: WebApp, status: str = "all", level: str = ""
) -> Response:
    if status not in RECORD_FILTERS:
        raise HTTPProblem(400, f"Unknown filter {status[:40]!r}; use one of: {', '.join(RECORD_FILTERS)}.")
    if level and level not in load_ladder().level_ids:
        raise HTTPProblem(400, f"Unknown level {level[:40]!r}.")
    with data.StoreReader(app.config) as store:
        page = records_page(app.config, store, claim, session.curator, status, level or None)
    return app.render(request, "records.html", claim=claim, page=page, filters=RECORD_FILTERS)
