"""Login CSRF in real headless Chromium: a page on another origin that auto-submits the sign-in form
with the attacker's own name, password and freshly fetched form token must not sign the victim in."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.web_fixtures import CHROMIUM_ARGS, PASSWORDS, WebSite, build_site, serve

pytestmark = pytest.mark.browser
ATTACKER = "carol"  # the attacker has an account of their own: the victim's work would land in it


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture()
def site(tmp_path: Path) -> WebSite:
    return build_site(tmp_path)


@pytest.fixture()
def base_url(site: WebSite) -> Iterator[str]:
    with serve(site.config) as url:
        yield url


def attacker_page(base: str, referrer_meta: str) -> bytes:
    """The attacker's page: their own credentials and a token they fetched from the app themselves."""
    found = re.search(r'name="token" value="([^"]+)"', httpx.get(base + "/login").text)
    assert found
    fields = {"token": found.group(1), "curator": ATTACKER, "password": PASSWORDS[ATTACKER]}
    inputs = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(v, quote=True)}">' for k, v in fields.items()
    )
    return (
        f"<!doctype html><title>Free vitamin K2</title>{referrer_meta}"
        f'<form id="f" method="post" action="{base}/login">'
        f"{inputs}</form><script>document.getElementById('f').submit()</script>"
    ).encode()


@pytest.fixture()
def attacker_port(base_url: str) -> Iterator[int]:
    pages = {
        "/": attacker_page(base_url, ""),
        # No Referer and Origin "null" on the POST: the app then reads Sec-Fetch-Site.
        "/no-referrer": attacker_page(base_url, '<meta name="referrer" content="no-referrer">'),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("attacker_host", "path", "visited_login_first"),
    [
        ("localhost", "/", False),  # another site
        ("localhost", "/no-referrer", True),
        ("127.0.0.1", "/", True),  # the same site, another port: another origin
        ("127.0.0.1", "/no-referrer", False),
    ],
)
def test_cross_origin_auto_submitted_sign_in_fails(
    browser: Browser,
    base_url: str,
    attacker_port: int,
    attacker_host: str,
    path: str,
    visited_login_first: bool,
) -> None:
    context = browser.new_context()
    page = context.new_page()
    if visited_login_first:  # the victim's browser holds its own sign-in form cookie
        page.goto(base_url + "/login")
    landed = []
    page.on("response", lambda r: landed.append((r.url, r.status)) if r.url == base_url + "/login" else None)
    page.goto(f"http://{attacker_host}:{attacker_port}{path}")
    # The auto-submitted POST reaches the app (its refusal is what the victim sees) ...
    expect(page).to_have_url(base_url + "/login")
    expect(page.locator("main")).to_contain_text("did not come from this app")
    assert (base_url + "/login", 403) in landed
    # ... and signs nobody in.
    assert "litgrade_session" not in {c["name"] for c in context.cookies()}
    page.goto(base_url + "/")
    expect(page).to_have_url(base_url + "/login")
    # The same browser signs in through the app's own form (the refusal above was not a broken form).
    page.fill("#curator", "alice")
    page.fill("#password", PASSWORDS["alice"])
    page.click("#sign-in")
    expect(page).to_have_url(base_url + "/")
    expect(page.locator("#who")).to_contain_text("alice")
    context.close()
