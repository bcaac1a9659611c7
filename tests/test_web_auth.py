"""Web sign-in under attack (issue 16, finding 6), over real HTTP to uvicorn on 127.0.0.1.

Attempt limits with lockout per account and per client (a refused attempt is cheap: no hash), single-use
sign-in tokens bound to the browser, sessions ended by a password change, the Host header checked.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from limits import RateLimitItemPerMinute

from flows.web.app import create_app
from flows.web.auth import LOGIN_TOKEN_MAX_AGE, secret_key
from flows.web.data import WebConfig
from flows.web.signin_limits import SignInLimits
from tests.cli_helpers import run_cli
from tests.conftest import REPO_ROOT
from tests.web_fixtures import CLAIM_SINGLE, PASSWORDS, PROJECT, WebSite, build_site, serve_app

TOKEN = re.compile(r'name="token" value="([^"]+)"')
FLOOD_EACH = 25  # requests per connection
# Guesses from another process (so they do not share the server's interpreter): prints the statuses
# seen and each answer's server time.
FLOOD = """
import collections, json, re, sys, threading
import httpx
base, workers, each, what = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
statuses, costs = collections.Counter(), []
def guess(w):
    with httpx.Client(base_url=base) as c:
        for i in range(each):
            if what == "guess":
                r = c.post("/login", data={"curator": f"user{w}x{i}", "password": "guess", "token": "t"})
            else:
                r = c.get("/login")
            statuses[str(r.status_code)] += 1
            costs.append(float(re.fullmatch(r"app;dur=([0-9.]+)", r.headers["server-timing"]).group(1)))
threads = [threading.Thread(target=guess, args=(w,)) for w in range(workers)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps([statuses, costs]))
"""


def app_with_limits(config: WebConfig, account: int, client: int) -> FastAPI:
    app = create_app(config)
    app.state.signin_limits = SignInLimits(
        account=RateLimitItemPerMinute(account, 15), client=RateLimitItemPerMinute(client, 15)
    )
    return app


def form_token(client: httpx.Client) -> str:
    found = TOKEN.search(client.get("/login").text)
    assert found
    return found.group(1)


def sign_in(client: httpx.Client, curator: str, password: str | None = None) -> httpx.Response:
    return client.post(
        "/login",
        data={"curator": curator, "password": password or PASSWORDS[curator], "token": form_token(client)},
    )


def server_ms(response: httpx.Response) -> float:
    found = re.fullmatch(r"app;dur=([0-9.]+)", response.headers["server-timing"])
    assert found
    return float(found.group(1))


@pytest.fixture()
def site(tmp_path: Path) -> WebSite:
    return build_site(tmp_path)


def test_account_lockout_says_when_and_a_sign_in_clears_the_count(site: WebSite) -> None:
    with serve_app(app_with_limits(site.config, account=3, client=50)) as base:
        client = httpx.Client(base_url=base)
        assert sign_in(client, "alice", "wrong-password").status_code == 401
        for _ in range(2):  # attempts count when they arrive, whatever becomes of them
            assert client.post("/login", data={"curator": "alice", "password": "x"}).status_code == 403
        locked = sign_in(client, "alice")  # the right password, too late
        assert locked.status_code == 429
        assert "litgrade_session" not in locked.headers.get("set-cookie", "")
        message = re.search(r'role="alert">([^<]+)<', locked.text)
        assert message
        assert re.fullmatch(
            r"Too many sign-in attempts for &#39;alice&#39;: try again in 15 min \(after \d\d:\d\d UTC\)\.",
            message.group(1),
        ), message.group(1)
        assert 890 <= int(locked.headers["retry-after"]) <= 900
        # An unknown name locks the same way (a lockout tells nothing about who exists).
        for _ in range(3):
            client.post("/login", data={"curator": "zed", "password": "x"})
        assert "for &#39;zed&#39;: try again in 15 min" in sign_in(client, "zed", "x").text
        # Another account from the same client is not locked; its success clears its own count.
        for _ in range(2):
            client.post("/login", data={"curator": "bob", "password": "x"})
        assert sign_in(client, "bob").status_code == 303
        for _ in range(2):
            client.post("/login", data={"curator": "bob", "password": "x"})
        assert sign_in(client, "bob").status_code == 303  # 6 attempts, never 3 since the last success


def test_client_limit_refuses_cheaply_before_hashing_and_pages_stay_fast(site: WebSite) -> None:
    with serve_app(app_with_limits(site.config, account=100, client=4)) as base:
        reader = httpx.Client(base_url=base)
        assert sign_in(reader, "bob").status_code == 303  # 1st attempt from 127.0.0.1
        page = f"/claims/{CLAIM_SINGLE}"
        baseline = [server_ms(reader.get(page)) for _ in range(15)]

        attacker = httpx.Client(base_url=base)
        hashed = attacker.post(
            "/login", data={"curator": "alice", "password": "guess-1", "token": form_token(attacker)}
        )
        assert hashed.status_code == 401  # 2nd: a wrong password, verified (one argon2 hash)
        for _ in range(2):  # 3rd, 4th
            attacker.post("/login", data={"curator": "carol", "password": "x"})
        refused = sign_in(attacker, "alice")
        assert refused.status_code == 429
        assert "Too many sign-in attempts from this address: try again in 15 min (after " in refused.text

        def page_during_flood(what: str) -> tuple[list[float], dict[str, int], list[float]]:
            """Page server times while another process sends `what` on 4 connections as fast as it can."""
            cmd = [sys.executable, "-c", FLOOD, base, "4", str(FLOOD_EACH), what]
            flood = subprocess.Popen(cmd, stdout=subprocess.PIPE)
            time.sleep(0.3)
            during = [server_ms(reader.get(page)) for _ in range(5)]
            while flood.poll() is None:
                during.append(server_ms(reader.get(page)))
            out, _ = flood.communicate(timeout=60)
            statuses, costs = json.loads(out)
            return during, statuses, costs

        # A flood of sign-in page fetches: the cheapest thing anyone can flood the app with.
        fetching, _, fetch_costs = page_during_flood("fetch")
        during, statuses, costs = page_during_flood("guess")
        assert statuses == {"429": 4 * FLOOD_EACH}, statuses
        sequential = [
            server_ms(attacker.post("/login", data={"curator": "x", "password": "y"})) for _ in range(20)
        ]
        # A refused attempt never reaches argon2: a tenth of one verification, at most.
        assert statistics.median(sequential) * 10 < server_ms(hashed), (sequential, server_ms(hashed))
        # Guessing floods slow pages no more than fetching the sign-in page does (before: tenfold, hashing).
        assert statistics.median(during) < 3 * statistics.median(fetching) + 10, (fetching, during)
        assert reader.get(page).status_code == 200  # the signed-in curator was never throttled
        print(
            f"refused attempt p50 {statistics.median(sequential):.2f} ms alone, "
            f"{statistics.median(costs):.2f} ms in a flood of {len(costs)} on 4 connections; hashed attempt "
            f"{server_ms(hashed):.0f} ms; page p50 {statistics.median(baseline):.2f} ms before, "
            f"{statistics.median(during):.2f} ms during the flood, {statistics.median(fetching):.2f} ms during "
            f"a flood of {len(fetch_costs)} sign-in page fetches (p50 {statistics.median(fetch_costs):.2f} ms)"
        )


def test_sign_in_tokens_are_single_use_bound_to_the_browser_and_expire(site: WebSite) -> None:
    with serve_app(app_with_limits(site.config, account=10, client=50)) as base:
        client = httpx.Client(base_url=base)
        token = form_token(client)
        wrong = {"curator": "alice", "password": "wrong-password", "token": token}
        assert client.post("/login", data=wrong).status_code == 401
        replay = client.post("/login", data={**wrong, "password": PASSWORDS["alice"]})
        assert replay.status_code == 403 and "expired or was already used" in replay.text
        assert "litgrade_session" not in replay.headers.get("set-cookie", "")

        # A token from another browser (an attacker's own fetch of /login) is worthless in this one.
        theirs = form_token(httpx.Client(base_url=base))
        other = client.post(
            "/login", data={"curator": "alice", "password": PASSWORDS["alice"], "token": theirs}
        )
        assert other.status_code == 403
        # ... as it is with no browser cookie at all.
        bare = httpx.post(
            base + "/login", data={"curator": "alice", "password": PASSWORDS["alice"], "token": theirs}
        )
        assert bare.status_code == 403

        # A token signed by this server for this browser, LOGIN_TOKEN_MAX_AGE + 5 s ago, has expired.
        class Earlier(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(time.time()) - LOGIN_TOKEN_MAX_AGE - 5

        browser = client.cookies["litgrade_login"]
        old = URLSafeTimedSerializer(secret_key(site.config.data_dir), salt="litgrade-login", signer=Earlier)
        stale = {"curator": "alice", "password": PASSWORDS["alice"], "token": old.dumps([browser, "nonce-1"])}
        assert client.post("/login", data=stale).status_code == 403

        ok = sign_in(client, "alice")
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        assert client.get(f"/claims/{CLAIM_SINGLE}").status_code == 200


def test_a_cross_origin_sign_in_post_is_refused(site: WebSite) -> None:
    with serve_app(create_app(site.config)) as base:
        client = httpx.Client(base_url=base)
        form = {"curator": "alice", "password": PASSWORDS["alice"], "token": form_token(client)}
        cross = client.post("/login", data=form, headers={"Origin": "http://attacker.example"})
        assert cross.status_code == 403 and "did not come from this app" in cross.text
        # Under a no-referrer policy browsers send Origin "null"; Sec-Fetch-Site tells where from.
        for site_of in ("cross-site", "same-site"):
            refused = client.post("/login", data=form, headers={"Origin": "null", "Sec-Fetch-Site": site_of})
            assert refused.status_code == 403, site_of
        assert client.post("/login", data=form, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        same = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # what Chromium sends from /login
        assert client.post("/login", data=form, headers=same).status_code == 303


def test_password_change_ends_open_sessions(
    site: WebSite, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITGRADE_HOME", str(tmp_path))
    monkeypatch.setenv("LITGRADE_DATA", str(site.config.data_dir))
    page = f"/claims/{CLAIM_SINGLE}"
    with serve_app(create_app(site.config)) as base:
        alice, alice_too, bob = (httpx.Client(base_url=base) for _ in range(3))
        for client, who in ((alice, "alice"), (alice_too, "alice"), (bob, "bob")):
            assert sign_in(client, who).status_code == 303
            assert client.get(page).status_code == 200

        result = run_cli(
            capsys, "curator", "passwd", "alice", "--project", PROJECT, "--password", "a-new-password-1"
        )
        assert result.code == 0, result.err
        assert "alice's open web sessions are ended" in result.out

        for client in (alice, alice_too):  # both of alice's sessions, in the running server
            gone = client.get(page)
            assert gone.status_code == 303 and gone.headers["location"] == "/login"
            assert client.get(f"{page}/search?q=cramp").status_code == 401
        assert bob.get(page).status_code == 200  # others keep working
        assert sign_in(httpx.Client(base_url=base), "alice").status_code == 401  # the old password
        assert sign_in(alice, "alice", "a-new-password-1").status_code == 303
        assert alice.get(page).status_code == 200

        # Setting the same password again still ends the sessions opened with the old hash.
        run_cli(capsys, "curator", "passwd", "alice", "--project", PROJECT, "--password", "a-new-password-1")
        assert alice.get(page).status_code == 303


def test_host_header_checked_loopback_by_default(site: WebSite) -> None:
    with serve_app(create_app(site.config)) as base:
        port = base.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
            assert httpx.get(base + "/login", headers={"Host": host}).status_code == 200, host
        for host in (
            "attacker.example",
            f"attacker.example:{port}",
            f"127.0.0.1.attacker.example:{port}",
            "",
        ):
            refused = httpx.get(base + "/login", headers={"Host": host})
            assert refused.status_code == 400 and refused.text == "Invalid host header", host


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_allows_more_hosts_by_option_and_environment(site: WebSite, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ, "PYTHONPATH": str(REPO_ROOT), "LITGRADE_HOME": str(tmp_path),
        "LITGRADE_DATA": str(site.config.data_dir), "LITGRADE_DB": str(site.config.db_path),
        "LITGRADE_ALLOWED_HOSTS": "curate.example.org, *.lab.example.org",
    }  # fmt: skip
    cmd = [
        sys.executable,
        "-c",
        "import sys; from flows.cli import main; main(sys.argv[1:])",
        "serve",
        PROJECT,
    ]
    bad = subprocess.run([*cmd, "--allowed-hosts", "http://x/"], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "allowed host 'http://x/' is not a host name" in bad.stderr, bad.stderr

    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}/login"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "litgrade serve did not start"
                time.sleep(0.2)
        for host in ("curate.example.org", "a.lab.example.org", f"127.0.0.1:{port}"):
            assert httpx.get(url, headers={"Host": host}).status_code == 200, host
        assert httpx.get(url, headers={"Host": "example.org"}).status_code == 400
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "answering Host names 127.0.0.1, localhost, [::1], curate.example.org, *.lab.example.org" in out
