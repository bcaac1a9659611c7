"""Sign-in and sign-out: a single-use form token bound to this browser to sign in, the session's CSRF
token to sign out.

What a sign-in attempt passes, in this order, all before any password is hashed: the request comes
from this app's own pages (its Origin), the client and the account are within their attempt limits
(flows.web.signin_limits), the form token is this browser's and unused. Then one argon2 verification.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.ids import is_curator_id
from flows.web import data
from flows.web.auth import LOGIN_COOKIE, LOGIN_TOKEN_MAX_AGE, SESSION_COOKIE, SESSION_MAX_AGE, Sessions
from flows.web.deps import Checked, Htmx, Limits, OptionalForm, WebApp
from flows.web.pages import HTTPProblem, Web

router = APIRouter()
BROWSER_ID = re.compile(r"[A-Za-z0-9_-]{32}")
OptionalCookie = Annotated[str | None, Cookie(alias=LOGIN_COOKIE)]


def _browser_id(cookie: str | None) -> tuple[str, bool]:
    """This browser's id from its cookie, or a new one; and whether it is new."""
    if cookie is not None and BROWSER_ID.fullmatch(cookie):
        return cookie, False
    return Sessions.new_browser_id(), True


def _login_form(
    request: Request, app: Web, cookie: str | None, status: int = 200, error: str | None = None
) -> Response:
    browser, _ = _browser_id(cookie)
    response = app.render(
        request, "login.html", status=status, token=app.sessions.login_token(browser), error=error
    )
    response.set_cookie(
        LOGIN_COOKIE, browser, max_age=LOGIN_TOKEN_MAX_AGE, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/login",
    )  # fmt: skip
    return response


def _same_origin(request: Request) -> bool:
    """False for a form posted from a page of another origin.

    Browsers send Origin with every POST, but as "null" under a no-referrer policy (this app's own,
    see app.py); then Sec-Fetch-Site, which every current browser sends, says where it came from.
    A request with neither is no browser's; the form token's binding still holds for it.
    """
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower() != ""


def _check(app: Web, curator: str, password: str) -> str | None:
    """The password's fingerprint when it is right and the curator is still declared."""
    fingerprint = app.passwords.check(curator, password)
    return fingerprint if fingerprint is not None and curator in data.curators(app.config) else None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, app: WebApp, browser: OptionalCookie = None) -> Response:
    return _login_form(request, app, browser)


@router.post("/login")
async def login(
    request: Request,
    app: WebApp,
    limits: Limits,
    browser: OptionalCookie = None,
    token: OptionalForm = None,
    curator: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    if not _same_origin(request):
        raise HTTPProblem(
            403, "This sign-in did not come from this app's own page; open /login and sign in there."
        )
    curator = curator.strip()
    account = curator if is_curator_id(curator) else None
    refused = limits.attempt(request.client.host if request.client else "unknown", account)
    if refused is not None:
        # Pages render in the thread pool, as sync routes do: the event loop stays free for everyone else.
        response = await run_in_threadpool(_login_form, request, app, browser, 429, refused.message)
        response.headers["Retry-After"] = str(refused.retry_after)
        return response
    if not app.sessions.use_login_token(token, browser):
        expired = "The sign-in form expired or was already used; try again on this fresh one."
        return await run_in_threadpool(_login_form, request, app, browser, 403, expired)
    fingerprint = None
    if account is not None:
        async with limits.hashing:  # argon2 is deliberately slow: off the event loop, one at a time
            fingerprint = await run_in_threadpool(_check, app, account, password)
    if fingerprint is None or account is None:
        wrong = "Unknown curator or wrong password."
        return await run_in_threadpool(_login_form, request, app, browser, 401, wrong)
    limits.succeeded(account)
    _, cookie = app.sessions.start(account, fingerprint)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(session: Checked, htmx: Htmx, app: WebApp) -> Response:
    app.sessions.end(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    if htmx:
        response.headers["HX-Redirect"] = "/login"
    return response
