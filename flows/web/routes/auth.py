"""Sign-in and sign-out: a signed form token to sign in, the session's CSRF token to sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.web import data
from flows.web.auth import SESSION_COOKIE, SESSION_MAX_AGE
from flows.web.deps import Checked, Htmx, OptionalForm, WebApp
from flows.web.pages import HTTPProblem

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, app: WebApp) -> Response:
    return app.render(request, "login.html", token=app.sessions.login_token(), error=None)


@router.post("/login")
def login(
    request: Request,
    app: WebApp,
    token: OptionalForm = None,
    curator: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    # A sync handler: FastAPI runs it in its thread pool, and argon2 is deliberately slow.
    if not app.sessions.check_login_token(token):
        raise HTTPProblem(403, "The sign-in form expired; reload the page and try again.")
    curator = curator.strip()
    known = data.curators(app.config)
    ok = app.passwords.verify(curator, password)
    if not ok or curator not in known:
        return app.render(
            request, "login.html", status=401, token=app.sessions.login_token(),
            error="Unknown curator or wrong password.",
        )  # fmt: skip
    _, cookie = app.sessions.start(curator)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    return response


@router.post("/logout")
async def logout(session: Checked, htmx: Htmx, app: WebApp) -> Response:
    app.sessions.end(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    if htmx:
        response.headers["HX-Redirect"] = "/login"
    return response
