"""One study's grade history, under the same blind-review rule as the screening page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from flows.web import data
from flows.web.deps import ClaimOf, SignedIn, WebApp, study_of
from flows.web.grading_view import screen_state

router = APIRouter()


@router.get("/claims/{claim_id}/studies/{pmid}/history", response_class=HTMLResponse)
def history(request: Request, session: SignedIn, claim: ClaimOf, app: WebApp, pmid: str) -> Response:
    with data.StoreReader(app.config) as store:
        study_of(store, claim, pmid)
        state = screen_state(app.config, store, claim, session.curator, pmid)
    return app.render(request, "history.html", claim=claim, state=state)
