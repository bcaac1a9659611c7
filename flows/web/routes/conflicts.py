"""Adjudicators' page: the claim's open conflicts, each settled by a final adjudication."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.curation.journal import now_timestamp
from flows.web import data
from flows.web.deps import Adjudicator, Checked, ClaimOf, Grade, SignedIn, WebApp, study_of
from flows.web.grading_view import conflict_rows

router = APIRouter()


@router.get("/claims/{claim_id}/conflicts", response_class=HTMLResponse)
def conflicts_page(
    request: Request, session: SignedIn, claim: ClaimOf, adjudicator: Adjudicator, app: WebApp
) -> Response:
    with data.StoreReader(app.config) as store:
        rows = conflict_rows(app.config, store, claim)
    return app.render(request, "conflicts.html", claim=claim, rows=rows, message=None)


@router.post("/claims/{claim_id}/studies/{pmid}/adjudicate", response_class=HTMLResponse)
def adjudicate(
    request: Request, session: Checked, claim: ClaimOf, adjudicator: Adjudicator, form: Grade, app: WebApp,
    pmid: str,
) -> Response:  # fmt: skip
    with data.StoreReader(app.config) as store:
        study_of(store, claim, pmid)
        if form.error:
            rows = conflict_rows(app.config, store, claim)
            return app.render(
                request, "conflicts.html", status=422, claim=claim, rows=rows, message=form.error
            )
    event = replace(form.event(claim.id, pmid, session.curator, now_timestamp()), kind="adjudication")
    data.append(app.config, event)
    return RedirectResponse(f"/claims/{claim.id}/conflicts?done={pmid}", status_code=303)
