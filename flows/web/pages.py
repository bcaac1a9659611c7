"""What every route shares: the app's parts for one project (`Web`) and rendering a page with them.

Errors a person can act on are raised as `HTTPProblem` (rendered as error.html with its status);
`SignInFirst` sends a visitor without a session from a page to the sign-in form.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from flows.curation.ladder import load_ladder
from flows.errors import LitgradeError
from flows.web import data
from flows.web.auth import PasswordStore, Session, Sessions, secret_key

WEB_DIR = Path(__file__).resolve().parent


class HTTPProblem(Exception):
    """An error page with a status code and a message a person can act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInFirst(Exception):
    """A page was asked for without a session: answered with a redirect to /login."""


def _http_url(value: str | None) -> str | None:
    """Only http(s) links are rendered as links (a `javascript:` URL in a YAML file stays text)."""
    return value if value and value.lower().startswith(("https://", "http://")) else None


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["ladder"] = load_ladder()
    env.globals["new_save_key"] = lambda: secrets.token_urlsafe(18)  # one per rendered form
    env.filters["http_url"] = _http_url
    return env


@dataclass(frozen=True)
class Web:
    """One project's web app state: its files, templates, sessions and passwords."""

    config: data.WebConfig
    env: Environment
    sessions: Sessions
    passwords: PasswordStore

    @classmethod
    def create(cls, config: data.WebConfig) -> Web:
        return cls(
            config=config,
            env=templates(),
            sessions=Sessions(secret_key(config.data_dir)),
            passwords=PasswordStore(config.data_dir, config.project.name),
        )

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session: Session | None = getattr(request.state, "session", None)
        names: dict[str, str] = {}
        with contextlib.suppress(LitgradeError):  # a broken curators.yaml still shows its error page
            names = {c: v.name for c, v in data.curators(self.config).items()}
        body = self.env.get_template(name).render(
            project=self.config.project,
            session=session,
            me_name=names.get(session.curator, session.curator) if session else "",
            csrf_headers=json.dumps({"X-CSRF-Token": session.csrf}) if session else "{}",
            **context,
        )
        return HTMLResponse(body, status_code=status)
