"""The dashboard and the screening page: one study at a time, grade it, skip it, "maybe", undo.

Handlers that touch files or the store are sync (FastAPI runs them in its thread pool), so a store
lock held by a refresh never stalls the event loop. A grade is saved once per form key
(flows.curation.save); once it is saved, a failure while drawing the next study is told as "saved,
reload to continue", never as a failed save.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.curation.events import GradeEvent
from flows.curation.journal import now_timestamp
from flows.curation.save import KEY_PATTERN, save_once
from flows.errors import LitgradeError
from flows.project.claims import Claim
from flows.web import data
from flows.web.deps import Checked, ClaimOf, Grade, Htmx, SignedInPage, WebApp, role, study_of
from flows.web.grading_view import (
    claim_summaries,
    conflict_feedback,
    screen_state,
    still_in_conflict,
    undo_target,
)
from flows.web.pages import HTTPProblem, Web
from flows.web.parked import park

router = APIRouter()
log = logging.getLogger(__name__)


def save_keys_path(app: Web) -> Path:
    return app.config.data_dir / "save-keys" / f"{app.config.project.name}.keys"


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


def _next_screen(request: Request, app: Web, claim: Claim, curator: str, message: str) -> Response:
    """The next study after a saved action; should drawing it fail, the save still stands and is told."""
    try:
        with data.StoreReader(app.config) as store:
            state = screen_state(app.config, store, claim, curator, None)
        return app.render(request, "_study.html", claim=claim, state=state, message=message)
    except Exception:  # the grade is on disk: say so, whatever broke after it
        log.exception("after a saved grade, the next study of %s could not be shown", claim.id)
        return app.render(request, "_saved_only.html", claim=claim, message=message)


@router.post("/claims/{claim_id}/studies/{pmid}/grade", response_class=HTMLResponse)
def grade(
    request: Request, session: Checked, claim: ClaimOf, form: Grade, htmx: Htmx, app: WebApp, pmid: str
) -> Response:
    config = app.config
    with data.StoreReader(config) as store:
        study_of(store, claim, pmid)
        error = form.error or form.outcome_problem(claim)
        if error:
            state = screen_state(config, store, claim, session.curator, pmid)
            return app.render(request, "_study.html", status=422, claim=claim, state=state, message=error)
    if form.key is not None and not KEY_PATTERN.fullmatch(form.key):
        raise HTTPProblem(400, "This form carries a broken save key; reload the page and grade again.")
    event = form.event(claim.id, pmid, session.curator, now_timestamp())
    try:
        if form.key is None:
            data.append(config, event)
            written = True
        else:
            written = save_once(save_keys_path(app), form.key, event, lambda e: data.append(config, e))
    except LitgradeError as exc:  # a full disk, a quarantined grades file: nothing written; say so
        with data.StoreReader(config) as store:
            state = screen_state(config, store, claim, session.curator, pmid)
        return app.render(
            request, "_study.html", status=422, claim=claim, state=state, message=f"Not saved: {exc}"
        )
    message = (
        f"Saved your grade for PMID {pmid}." if written else f"Already saved: your grade for PMID {pmid}."
    )
    try:
        feedback = conflict_feedback(config, claim, pmid, session.curator)
    except Exception:  # feedback is a courtesy; the save stands
        log.exception("conflict feedback for %s %s failed", claim.id, pmid)
        feedback = None
    if feedback:
        message = f"{message} {feedback}"
    if not htmx:
        return RedirectResponse(f"/claims/{claim.id}", status_code=303)
    return _next_screen(request, app, claim, session.curator, message)


@router.post("/claims/{claim_id}/studies/{pmid}/skip", response_class=HTMLResponse)
def skip(
    request: Request,
    session: Checked,
    claim: ClaimOf,
    htmx: Htmx,
    app: WebApp,
    pmid: str,
    mark: Annotated[str, Form()] = "skip",
) -> Response:
    """Skip the study (to the end of the queue) or mark it "maybe" (the same, and listed as a maybe)."""
    if mark not in ("skip", "maybe"):
        raise HTTPProblem(400, "mark must be skip or maybe.")
    with data.StoreReader(app.config) as store:
        study_of(store, claim, pmid)
    park(app.config, session.curator, claim.id, pmid, mark)
    if not htmx:
        return RedirectResponse(f"/claims/{claim.id}", status_code=303)
    told = "Marked maybe" if mark == "maybe" else "Skipped"
    return _next_screen(
        request, app, claim, session.curator, f"{told}: PMID {pmid} moved to the end of your queue."
    )


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
    if state.counts is not None and still_in_conflict(config, claim, target):
        message = (
            f"Undone: your grade for PMID {target} is withdrawn. You had seen the other grade, so your first "
            "grade still counts: the study stays in conflict until an adjudicator settles it."
        )
    return app.render(request, "_study.html", claim=claim, state=state, message=message)
