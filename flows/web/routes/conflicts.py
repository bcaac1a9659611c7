"""Adjudicators' page: the claim's open conflicts, each with its record's summary and the reviewers'
independent grades, settled by an adjudication (a separate event: nobody's grade is overwritten).

An adjudicator who graded the study is refused when another adjudicator exists (one line saying who);
as the only adjudicator they may settle it, and the final grade is flagged `self_adjudicated`.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.curation.journal import now_timestamp
from flows.curation.review import adjudication_refusal
from flows.web import data
from flows.web.deps import Adjudicator, Checked, ClaimOf, Grade, SignedIn, WebApp, study_of
from flows.web.grading_view import adjudicators, conflict_rows

router = APIRouter()


@router.get("/claims/{claim_id}/conflicts", response_class=HTMLResponse)
def conflicts_page(
    request: Request, session: SignedIn, claim: ClaimOf, adjudicator: Adjudicator, app: WebApp, done: str = ""
) -> Response:
    with data.StoreReader(app.config) as store:
        rows = conflict_rows(app.config, store, claim, session.curator)
    message = f"Settled PMID {done}." if done.isdigit() else None
    return app.render(request, "conflicts.html", claim=claim, rows=rows, message=message, bad=False)


@router.post("/claims/{claim_id}/studies/{pmid}/adjudicate", response_class=HTMLResponse)
def adjudicate(
    request: Request, session: Checked, claim: ClaimOf, adjudicator: Adjudicator, form: Grade, app: WebApp,
    pmid: str,
) -> Response:  # fmt: skip
    with data.StoreReader(app.config) as store:
        study_of(store, claim, pmid)
        refusal = adjudication_refusal(
            data.events(app.config), claim.id, pmid, session.curator, adjudicators(app.config)
        )
        error = form.error or form.outcome_problem(claim) or (f"Not saved: {refusal}." if refusal else None)
        if error:
            rows = conflict_rows(app.config, store, claim, session.curator)
            return app.render(
                request, "conflicts.html", status=422 if not refusal else 403, claim=claim, rows=rows,
                message=error, bad=True,
            )  # fmt: skip
    event = replace(form.event(claim.id, pmid, session.curator, now_timestamp()), kind="adjudication")
    data.append(app.config, event)
    return RedirectResponse(f"/claims/{claim.id}/conflicts?done={pmid}", status_code=303)
