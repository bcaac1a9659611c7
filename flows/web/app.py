"""The curator web app: FastAPI + Jinja2 (autoescape) + vendored htmx, one project per server.

A thin face on the grading library: grades are appended to the curators' JSONL files through
flows.curation.journal, every rule (blind review, queue, conflicts, final grades) comes from
flows.curation.review, and the store is only read on short connections.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool

from flows.curation.events import GradeEvent
from flows.curation.ladder import load_ladder
from flows.errors import LitgradeError, StoreBusyError
from flows.project.claims import Claim
from flows.web import data, views
from flows.web.auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    PasswordStore,
    Session,
    Sessions,
    csrf_ok,
    secret_key,
)
from flows.web.grading_view import (
    GradeForm,
    ScreenState,
    claim_summaries,
    conflict_rows,
    screen_state,
    undo_target,
)

WEB_DIR = Path(__file__).resolve().parent
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class HTTPProblem(Exception):
    """An error page with a status code and a message a person can act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _http_url(value: str | None) -> str | None:
    """Only http(s) links are rendered as links (a `javascript:` URL in a YAML file stays text)."""
    return value if value and value.lower().startswith(("https://", "http://")) else None


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["ladder"] = load_ladder()
    env.filters["http_url"] = _http_url
    return env


def create_app(config: data.WebConfig) -> FastAPI:
    """The ASGI app for one project (`litgrade serve` runs it with uvicorn)."""
    env = _templates()
    sessions = Sessions(secret_key(config.data_dir))
    passwords = PasswordStore(config.data_dir, config.project.name)
    app = FastAPI(title="litgrade", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session: Session | None = getattr(request.state, "session", None)
        names: dict[str, str] = {}
        with contextlib.suppress(LitgradeError):  # a broken curators.yaml still shows its error page
            names = {c: str(getattr(v, "name", c)) for c, v in data.curators(config).items()}
        body = env.get_template(name).render(
            project=config.project,
            session=session,
            me_name=names.get(session.curator, session.curator) if session else "",
            csrf_headers=json.dumps({"X-CSRF-Token": session.csrf}) if session else "{}",
            **context,
        )
        return HTMLResponse(body, status_code=status)

    @app.middleware("http")
    async def security(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        request.state.session = sessions.get(request.cookies.get(SESSION_COOKIE))
        response = await call_next(request)
        # Server-side time, readable in the browser's dev tools and by bench/bench_web.py.
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(HTTPProblem)
    async def problem(request: Request, exc: HTTPProblem) -> Response:
        return render(request, "error.html", status=exc.status, message=exc.message)

    @app.exception_handler(LitgradeError)
    async def domain_error(request: Request, exc: LitgradeError) -> Response:
        # Not 422: htmx swaps 422 answers (the study partial's "Not saved"), never a whole error page.
        status = 503 if isinstance(exc, StoreBusyError) else 400
        return render(request, "error.html", status=status, message=str(exc))

    # -- guards ---------------------------------------------------------------------------------
    def signed_in(request: Request) -> Session:
        session: Session | None = request.state.session
        if session is None:
            raise HTTPProblem(401, "Please sign in.")
        return session

    async def checked(request: Request) -> tuple[Session, dict[str, str]]:
        """A signed-in curator and their form, only with the session's CSRF token."""
        session = signed_in(request)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        supplied = request.headers.get("X-CSRF-Token") or form.get("csrf_token")
        if not csrf_ok(session, supplied):
            raise HTTPProblem(403, "This form has expired or did not come from this app; reload the page.")
        return session, form

    def claim_of(claim_id: str) -> Claim:
        for claim in config.project.claims:
            if claim.id == claim_id:
                return claim
        raise HTTPProblem(404, f"No claim {claim_id!r} in project {config.project.name}.")

    def study_of(store: data.StoreReader, claim: Claim, pmid: str) -> str:
        if not views.PMID.match(pmid) or pmid not in store.claim_pmids(claim.id):
            raise HTTPProblem(404, f"PMID {pmid!r} is not among claim {claim.id}'s studies.")
        return pmid

    def role(curator: str) -> str:
        found = data.curators(config).get(curator)
        if found is None:
            raise HTTPProblem(403, f"{curator!r} is no longer declared in curators.yaml.")
        return str(getattr(found, "role", "curator"))

    def is_htmx(request: Request) -> bool:
        return request.headers.get("HX-Request") == "true"

    # -- sign-in --------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        return render(request, "login.html", token=sessions.login_token(), error=None)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not sessions.check_login_token(form.get("token")):
            raise HTTPProblem(403, "The sign-in form expired; reload the page and try again.")
        curator = form.get("curator", "").strip()
        known = await run_in_threadpool(data.curators, config)
        # argon2 is deliberately slow: verify off the event loop.
        ok = await run_in_threadpool(passwords.verify, curator, form.get("password", ""))
        if not ok or curator not in known:
            return render(
                request, "login.html", status=401, token=sessions.login_token(),
                error="Unknown curator or wrong password.",
            )  # fmt: skip
        _, cookie = sessions.start(curator)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="strict",
            secure=request.url.scheme == "https", path="/",
        )  # fmt: skip
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session, _ = await checked(request)
        sessions.end(session)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        if is_htmx(request):
            response.headers["HX-Redirect"] = "/login"
        return response

    # -- pages ----------------------------------------------------------------------------------
    # Handlers that touch files or the store are sync (FastAPI runs them in its thread pool), or hand
    # their work to run_in_threadpool, so a store lock held by a refresh never stalls the event loop.
    @app.get("/", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        if request.state.session is None:
            return RedirectResponse("/login", status_code=303)
        session = signed_in(request)
        with data.StoreReader(config) as store:
            rows = claim_summaries(config, store, session.curator)
        return render(request, "dashboard.html", rows=rows, role=role(session.curator))

    @app.get("/claims/{claim_id}", response_class=HTMLResponse)
    def screen(request: Request, claim_id: str, pmid: str | None = None) -> Response:
        if request.state.session is None:
            return RedirectResponse("/login", status_code=303)
        session = signed_in(request)
        claim = claim_of(claim_id)
        with data.StoreReader(config) as store:
            if pmid is not None:
                study_of(store, claim, pmid)
            state = screen_state(config, store, claim, session.curator, pmid)
        template = "_study.html" if is_htmx(request) else "screen.html"
        return render(request, template, claim=claim, state=state, message=None)

    def _grade(
        request: Request, session: Session, form: dict[str, str], claim_id: str, pmid: str
    ) -> Response:
        claim = claim_of(claim_id)
        with data.StoreReader(config) as store:
            study_of(store, claim, pmid)
            # The curator is always the signed-in one: a `curator` field in the form is ignored.
            parsed = GradeForm.parse(form)
            if parsed.error:
                state = screen_state(config, store, claim, session.curator, pmid)
                return render(
                    request, "_study.html", status=422, claim=claim, state=state, message=parsed.error
                )
            data.append(config, parsed.event(claim.id, pmid, session.curator, data.now_iso()))
            if not is_htmx(request):
                return RedirectResponse(f"/claims/{claim.id}", status_code=303)
            state = screen_state(config, store, claim, session.curator, None)
        message = f"Saved your grade for PMID {pmid}."
        return render(request, "_study.html", claim=claim, state=state, message=message)

    @app.post("/claims/{claim_id}/studies/{pmid}/grade", response_class=HTMLResponse)
    async def grade(request: Request, claim_id: str, pmid: str) -> Response:
        session, form = await checked(request)
        return await run_in_threadpool(_grade, request, session, form, claim_id, pmid)

    def _undo(request: Request, session: Session, claim_id: str) -> Response:
        claim = claim_of(claim_id)
        target = undo_target(data.events(config), claim.id, session.curator)
        with data.StoreReader(config) as store:
            if target is None:
                state = screen_state(config, store, claim, session.curator, None)
                return render(request, "_study.html", claim=claim, state=state, message="Nothing to undo.")
            data.append(config, GradeEvent(claim=claim.id, pmid=target, curator=session.curator,
                                           timestamp=data.now_iso(), kind="retract"))  # fmt: skip
            if not is_htmx(request):
                return RedirectResponse(f"/claims/{claim.id}?pmid={target}", status_code=303)
            state = screen_state(config, store, claim, session.curator, target)
        message = f"Undone: your grade for PMID {target} is withdrawn; grade it again."
        return render(request, "_study.html", claim=claim, state=state, message=message)

    @app.post("/claims/{claim_id}/undo", response_class=HTMLResponse)
    async def undo(request: Request, claim_id: str) -> Response:
        session, _ = await checked(request)
        return await run_in_threadpool(_undo, request, session, claim_id)

    @app.get("/claims/{claim_id}/conflicts", response_class=HTMLResponse)
    def conflicts_page(request: Request, claim_id: str) -> Response:
        session = signed_in(request)
        claim = claim_of(claim_id)
        if role(session.curator) != "adjudicator":
            raise HTTPProblem(403, "Only adjudicators resolve conflicts.")
        with data.StoreReader(config) as store:
            rows = conflict_rows(config, store, claim)
        return render(request, "conflicts.html", claim=claim, rows=rows, message=None)

    def _adjudicate(
        request: Request, session: Session, form: dict[str, str], claim_id: str, pmid: str
    ) -> Response:
        claim = claim_of(claim_id)
        if role(session.curator) != "adjudicator":
            raise HTTPProblem(403, "Only adjudicators resolve conflicts.")
        with data.StoreReader(config) as store:
            study_of(store, claim, pmid)
            parsed = GradeForm.parse(form)
            if parsed.error:
                rows = conflict_rows(config, store, claim)
                return render(
                    request, "conflicts.html", status=422, claim=claim, rows=rows, message=parsed.error
                )
        event = replace(parsed.event(claim.id, pmid, session.curator, data.now_iso()), kind="adjudication")
        data.append(config, event)
        return RedirectResponse(f"/claims/{claim.id}/conflicts?done={pmid}", status_code=303)

    @app.post("/claims/{claim_id}/studies/{pmid}/adjudicate", response_class=HTMLResponse)
    async def adjudicate(request: Request, claim_id: str, pmid: str) -> Response:
        session, form = await checked(request)
        return await run_in_threadpool(_adjudicate, request, session, form, claim_id, pmid)

    @app.get("/claims/{claim_id}/studies/{pmid}/history", response_class=HTMLResponse)
    def history(request: Request, claim_id: str, pmid: str) -> Response:
        session = signed_in(request)
        claim = claim_of(claim_id)
        with data.StoreReader(config) as store:
            study_of(store, claim, pmid)
            state: ScreenState = screen_state(config, store, claim, session.curator, pmid)
        return render(request, "history.html", claim=claim, state=state)

    @app.get("/claims/{claim_id}/search", response_class=HTMLResponse)
    def search(request: Request, claim_id: str, q: str = "") -> Response:
        signed_in(request)
        claim = claim_of(claim_id)
        with data.StoreReader(config) as store:
            hits = store.search(claim.id, q[:200])
        return render(request, "search.html", claim=claim, q=q[:200], hits=hits)

    return app
