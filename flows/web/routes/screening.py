"""The dashboard and the screening page: one study at a time, grade it, undo the last grade.

Handlers that touch files or the store are sync (FastAPI runs them in its thread pool), so a store
lock held by a refresh never stalls the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.curation.events import GradeEvent
from flows.curation.journal import now_timestamp
from flows.errors import LitgradeError
from flows.web import data
from flows.web.deps import Checked, ClaimOf, Grade, Htmx, SignedInPage, WebApp, role, study_of
from flows.web.grading_view import claim_summaries, screen_state, undo_target

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: SignedInPage, app: WebApp) -> Response:
    with data.StoreReader(app.config) as store:
        rows = claim_summaries(app.config, store, session.curator)
    return app.render(request, "dashboard.html", rows=rows, role=role(app, session.curator))


@router.get("/claims/{claim_id}", response_class=HTMLResponse)
def screen(
    request: Request, session: SignedInPage, claim: ClaimOf, htmx: Htmx, app: WebApp, pmid: str | None = None
) -> Response:
    with data.StoreReader(app.config) as store:
        if pmid is not None:
            study_of(store, claim, pmid)
        state = screen_state(app.config, store, claim, session.curator, pmid)
    template = "_study.html" if htmx else "screen.html"
    return app.render(request, template, claim=claim, state=state, message=None)


@router.post("/claims/{claim_id}/studies/{pmid}/grade", response_class=HTMLResponse)
def grade(
    request: Request, session: Checked, claim: ClaimOf, form: Grade, htmx: Htmx, app: WebApp, pmid: str
) -> Response:
    config = app.config
    with data.StoreReader(config) as store:
        study_of(store, claim, pmid)
        if form.error:
            state = screen_state(config, store, claim, session.curator, pmid)
            return app.render(
                request, "_study.html", status=422, claim=claim, state=state, message=form.error
            )
        try:
            data.append(config, form.event(claim.id, pmid, session.curator, now_timestamp()))
        except LitgradeError as exc:  # a full disk, a quarantined grades file: say so, keep the page
            state = screen_state(config, store, claim, session.curator, pmid)
            return app.render(
                request, "_study.html", status=422, claim=claim, state=state, message=f"Not saved: {exc}"
            )
        if not htmx:
            return RedirectResponse(f"/claims/{claim.id}", status_code=303)
        state = screen_state(config, store, claim, session.curator, None)
    message = f"Saved your grade for PMID {pmid}."
    return app.render(request, "_study.html", claim=claim, state=state, message=message)


@router.post("/claims/{claim_id}/undo", response_class=HTMLResponse)
def undo(request: Request, session: Checked, claim: ClaimOf, htmx: Htmx, app: WebApp) -> Response:
    config = app.config
    target = undo_target(data.events(config), claim.id, session.curator)
    with data.StoreReader(config) as store:
        if target is None:
            state = screen_state(config, store, claim, session.curator, None)
            return app.render(request, "_study.html", claim=claim, state=state, message="Nothing to undo.")
        data.append(config, GradeEvent(claim=claim.id, pmid=target, curator=session.curator,
                                       timestamp=now_timestamp(), kind="retract"))  # fmt: skip
        if not htmx:
            return RedirectResponse(f"/claims/{claim.id}?pmid={target}", status_code=303)
        state = screen_state(config, store, claim, session.curator, target)
    message = f"Undone: your grade for PMID {target} is withdrawn; grade it again."
    return app.render(request, "_study.html", claim=claim, state=state, message=message)
