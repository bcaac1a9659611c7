"""The curator web app: FastAPI + Jinja2 (autoescape) + vendored htmx, one project per server.

A thin face on the grading library: grades are appended to the curators' JSONL files through
flows.curation.journal, every rule (blind review, queue, conflicts, final grades) comes from
flows.curation.review, and the store is only read on short connections. The routes are in
flows/web/routes/, their checks (session, CSRF, role) in flows/web/deps.py.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from flows.errors import LitgradeError, StoreBusyError
from flows.web import data
from flows.web.auth import SESSION_COOKIE
from flows.web.pages import WEB_DIR, HTTPProblem, SignInFirst, Web
from flows.web.routes import ROUTERS

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def create_app(config: data.WebConfig) -> FastAPI:
    """The ASGI app for one project (`litgrade serve` runs it with uvicorn)."""
    web = Web.create(config)
    app = FastAPI(title="litgrade", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)

    @app.middleware("http")
    async def security(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        request.state.session = web.sessions.get(request.cookies.get(SESSION_COOKIE))
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
        return web.render(request, "error.html", status=exc.status, message=exc.message)

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, exc: SignInFirst) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(LitgradeError)
    async def domain_error(request: Request, exc: LitgradeError) -> Response:
        # Not 422: htmx swaps 422 answers (the study partial's "Not saved"), never a whole error page.
        status = 503 if isinstance(exc, StoreBusyError) else 400
        return web.render(request, "error.html", status=status, message=str(exc))

    return app
