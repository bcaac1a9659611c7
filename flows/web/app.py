"""The curator web app: FastAPI + Jinja2 (autoescape) + vendored htmx, one project per server.

A thin face on the grading library: grades are appended to the curators' JSONL files through
flows.curation.journal, every rule (blind review, queue, conflicts, final grades) comes from
flows.curation.review, and the store is only read on short connections. The routes are in
flows/web/routes/, their checks (session, CSRF, role) in flows/web/deps.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from flows.errors import InputError, LitgradeError, StoreBusyError
from flows.web import data
from flows.web.auth import SESSION_COOKIE, Session
from flows.web.pages import WEB_DIR, HTTPProblem, SignInFirst, Web
from flows.web.routes import ROUTERS
from flows.web.signin_limits import SignInLimits

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

# The Host names answered by default: loopback only (a DNS-rebinding page's own name is refused).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
HOST_PATTERN = re.compile(rf"\*|(\*\.)?{_LABEL}(\.{_LABEL})*|\[[0-9a-f:.]+\]")


def host_patterns(names: Sequence[str]) -> list[str]:
    """Host names as TrustedHostMiddleware matches them (lower case, IPv6 in brackets), each checked."""
    out = []
    for raw in names:
        name = raw.strip().lower()
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"
        if not HOST_PATTERN.fullmatch(name):
            raise InputError(
                f"allowed host {raw!r} is not a host name: give names such as curate.example.org, "
                "*.example.org or 192.0.2.7, comma-separated (no port, no scheme)"
            )
        out.append(name)
    return out


def create_app(config: data.WebConfig, allowed_hosts: Sequence[str] = LOOPBACK_HOSTS) -> FastAPI:
    """The ASGI app for one project (`litgrade serve` runs it with uvicorn).

    Requests whose Host header is not one of `allowed_hosts` are answered 400 before any route runs.
    """
    web = Web.create(config)
    app = FastAPI(title="litgrade", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    app.state.signin_limits = SignInLimits()
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)

    @app.middleware("http")
    async def security(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        session: Session | None = None
        try:  # ended when its curator's password changed since (the password file is re-read if so)
            session = web.sessions.current(request.cookies.get(SESSION_COOKIE), web.passwords)
        except LitgradeError:
            session = None  # an unreadable password file: signed out; /login shows the error
        request.state.session = session
        with data.one_look_per_request():
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

    # Added last, so it runs first: a request for another Host name reaches nothing.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=host_patterns(allowed_hosts), www_redirect=False)
    return app
