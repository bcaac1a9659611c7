"""Web app pieces without a browser: the allow-list sanitiser, passwords, sessions, CLI commands."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html
from typer.testing import CliRunner

from flows.cli import app as cli_app
from flows.cli.web import is_loopback
from flows.errors import InputError
from flows.pubmed.highlight import highlighter, query_terms
from flows.web.auth import PasswordStore, Sessions, csrf_ok, secret_key
from flows.web.sanitize import safe_markup, safe_text


def test_allowed_tags_pass_and_everything_else_is_text() -> None:
    out = str(
        safe_markup('SnO<sub>2</sub> <i>in vivo</i> <script>alert(1)</script> <img src=x onerror="a()">')
    )
    assert "SnO<sub>2</sub>" in out and "<i>in vivo</i>" in out
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;img src=x onerror=&quot;a()&quot;&gt;" in out


def test_attributes_on_allowed_tags_are_refused() -> None:
    out = str(safe_markup('<i onclick="evil()">x</i> <b style="x">y</b>'))
    assert "<i " not in out and "<b " not in out
    assert "onclick" in out  # shown as text, not as an attribute


def test_unbalanced_markup_is_closed_and_stray_closers_are_dropped() -> None:
    out = str(safe_markup("<b>bold <i>both</b> after</i> <sup>open"))
    assert out == "<b>bold <i>both</i></b> after <sup>open</sup>"


def test_entities_are_escaped_exactly_once() -> None:
    assert str(safe_markup("a &amp; b &lt;tag&gt;")) == "a &amp; b &lt;tag&gt;"


def test_query_terms_drop_field_tags_operators_and_numbers() -> None:
    terms = query_terms(
        '(menaquinone*[tiab] OR "vitamin K2"[tiab]) AND cramp*[tiab] AND 2015:2020[dp] NOT rat[ti]'
    )
    assert terms == ("menaquinone*", "vitamin", "cramp*", "rat")


def test_highlighting_marks_whole_words_and_truncation() -> None:
    pattern = highlighter(["menaquinone*", "rat"])
    out = str(safe_text("Menaquinone-7 in rats and a rat; pirate", pattern))
    assert out == "<mark>Menaquinone</mark>-7 in rats and a <mark>rat</mark>; pirate"


def test_highlighting_never_splits_markup() -> None:
    pattern = highlighter(["sub"])
    out = str(safe_markup("a <sub>2</sub> sub", pattern))
    assert out == "a <sub>2</sub> <mark>sub</mark>"


ALLOWED = {"i", "b", "sup", "sub", "u", "mark"}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/=\"' abiuscrpt&;onerol")), max_size=80))
def test_no_input_yields_a_tag_outside_the_allow_list(raw: str) -> None:
    out = str(safe_markup(raw, highlighter(["script"])))
    root = lxml_html.fragment_fromstring(f"<div>{out}</div>")
    for element in root.iter():
        if element is root:
            continue
        assert element.tag in ALLOWED, (raw, out)
        assert not element.attrib, (raw, out)


def test_password_store_hashes_with_salt_and_0600(tmp_path: Path) -> None:
    store = PasswordStore(tmp_path, "proj")
    store.set_password("alice", "correct horse")
    store.set_password("bob", "correct horse")
    text = store.path.read_text()
    assert "correct horse" not in text and "$argon2id$" in text
    import json

    hashes = json.loads(text)
    assert hashes["alice"] != hashes["bob"]  # salted: same password, different hashes
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.verify("alice", "correct horse")
    assert not store.verify("alice", "wrong horse")
    assert not store.verify("nobody", "correct horse")


def test_short_password_and_unsafe_ids_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least 8"):
        PasswordStore(tmp_path, "proj").set_password("alice", "short")
    with pytest.raises(InputError, match="not a safe id"):
        PasswordStore(tmp_path, "../etc")


def test_secret_key_is_made_once(tmp_path: Path) -> None:
    first = secret_key(tmp_path)
    assert secret_key(tmp_path) == first and len(first) >= 32


def test_sessions_sign_and_end(tmp_path: Path) -> None:
    sessions = Sessions(secret_key(tmp_path))
    session, cookie = sessions.start("alice", "fingerprint")
    assert sessions.get(cookie) == session
    assert sessions.get(cookie + "x") is None
    assert sessions.get(Sessions("another-key-" * 4).start("alice", "fingerprint")[1]) is None  # other key's cookie
    assert csrf_ok(session, session.csrf) and not csrf_ok(session, "nope") and not csrf_ok(session, None)
    sessions.end(session)
    assert sessions.get(cookie) is None
    browser = sessions.new_browser_id()
    assert sessions.use_login_token(sessions.login_token(browser), browser)
    assert not sessions.use_login_token("forged", browser)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def _project(tmp_path: Path) -> Path:
    from tests.web_fixtures import CLAIMS_YAML, CURATORS_YAML, PROJECT

    folder = tmp_path / PROJECT
    folder.mkdir()
    (folder / "claims.yaml").write_text(CLAIMS_YAML)
    (folder / "curators.yaml").write_text(CURATORS_YAML)
    return folder


def test_cli_passwd_sets_a_verifiable_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITGRADE_DATA", str(tmp_path / "data"))
    folder = _project(tmp_path)
    result = CliRunner().invoke(
        cli_app, ["curator", "passwd", "alice", "--project", str(folder)], input="s3cret-pass\ns3cret-pass\n"
    )
    assert result.exit_code == 0, result.output
    assert PasswordStore(tmp_path / "data", folder.name).verify("alice", "s3cret-pass")


def test_cli_passwd_refuses_undeclared_curator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITGRADE_DATA", str(tmp_path / "data"))
    folder = _project(tmp_path)
    result = CliRunner().invoke(
        cli_app,
        ["curator", "passwd", "mallory", "--project", str(folder)],
        input="s3cret-pass\ns3cret-pass\n",
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError) and "no curator 'mallory'" in str(result.exception)
    assert not (tmp_path / "data" / "passwords").exists()


def test_serve_warns_on_non_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    folder = _project(tmp_path)
    monkeypatch.setenv("LITGRADE_DATA", str(tmp_path / "data"))
    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))  # don't actually listen
    result = CliRunner().invoke(cli_app, ["serve", str(folder), "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "WARNING: binding to 0.0.0.0" in result.output
    assert seen == {"host": "0.0.0.0", "port": 8123, "log_level": "warning", "access_log": False}
    quiet = CliRunner().invoke(cli_app, ["serve", str(folder)])
    assert "WARNING" not in quiet.output


def test_grade_form_checks_against_the_ladder() -> None:
    from flows.web.grading_view import GradeForm

    ok = GradeForm.parse(
        {"relevance": "include", "level": "rct", "direction": "supports", "population": "120"}
    )
    assert ok.error is None and (ok.level, ok.population, ok.exclude_reason) == ("rct", 120, None)
    excluded = GradeForm.parse({"relevance": "exclude", "exclude_reason": "off_topic", "level": "rct"})
    assert excluded.error is None and excluded.level is None  # an exclusion carries no level
    for bad, message in (
        ({"relevance": "include", "level": "rct"}, "pick a direction"),
        ({"relevance": "include", "level": "mega", "direction": "supports"}, "pick a level"),
        ({"relevance": "exclude", "exclude_reason": "boring"}, "pick an exclusion reason"),
        ({"relevance": "maybe"}, "choose include"),
        (
            {"relevance": "include", "level": "rct", "direction": "supports", "population": "²"},
            "whole number",
        ),
        (
            {"relevance": "include", "level": "rct", "direction": "supports", "risk_of_bias": "x"},
            "risk of bias",
        ),
    ):
        parsed = GradeForm.parse(bad)
        assert parsed.error is not None and message in parsed.error, (bad, parsed.error)


HOLD_LOCK = r"""
import sys, time
from pathlib import Path
from flows.store.db import connect
with connect(Path(sys.argv[1])) as con:
    con.execute("SELECT 1")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_store_reader_serves_cache_while_another_process_holds_the_store(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from flows.web.data import StoreReader, WebConfig
    from tests.web_fixtures import CLAIM_SINGLE, build_site

    site = build_site(tmp_path)
    config = site.config
    with StoreReader(config) as store:  # fills the cache
        pmids = store.claim_pmids(CLAIM_SINGLE)
        article, _ = store.study(pmids[0], pmids[1:])
        assert article is not None and not store.stale
    config.cache.store_key = None  # as if a refresh had just written
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(config.db_path), "3"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        with StoreReader(config) as store:
            assert store.claim_pmids(CLAIM_SINGLE) == pmids
            assert store.study(pmids[0], [])[0] == article
            assert store.stale
        assert time.monotonic() - start < 2.0  # answered from the cache, not after the lock
        # Nothing cached to fall back on: the reader waits the lock out (flows.store.db.connect).
        cold = WebConfig(config.project, config.db_path, config.data_dir)
        start = time.monotonic()
        with StoreReader(cold) as store:
            assert store.claim_pmids(CLAIM_SINGLE) == pmids
            assert not store.stale
        assert holder.poll() is not None or time.monotonic() - start > 0.5
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0


def test_grade_form_appraisal_fields_and_the_claims_outcomes() -> None:
    from flows.project.claims import Claim, Outcome
    from flows.web.grading_view import GradeForm

    base = {"relevance": "include", "level": "rct", "direction": "supports"}
    full = GradeForm.parse(
        base | {"risk_of_bias": "high", "bias_domain": "randomization", "indirectness": "indirect",
                "indirect_reason": "K1 only", "outcome": "cramps", "outcome_kind": "clinical",
                "exposure": "MK-7 180 µg/day"},
        key="k" * 20,
    )  # fmt: skip
    assert full.error is None and full.key == "k" * 20
    event = full.event("c", "1", "alice", "2026-12-02T00:00:00Z")
    assert (event.bias_domain, event.indirect_reason, event.outcome, event.exposure) == (
        "randomization", "K1 only", "cramps", "MK-7 180 µg/day",
    )  # fmt: skip
    # A reason without "indirect" is dropped, not an error; "indirect" without one is.
    direct = GradeForm.parse(base | {"indirectness": "direct", "indirect_reason": "left over"})
    assert direct.error is None and direct.indirect_reason is None
    missing = GradeForm.parse(base | {"indirectness": "indirect"})
    assert missing.error is not None and missing.error.startswith("Not saved:")
    claim = Claim(id="c", text="t", query="q", outcomes=(Outcome(id="cramps", label="Cramps"),))
    assert full.outcome_problem(claim) is None
    other = GradeForm.parse(base | {"outcome": "mortality"})
    assert other.outcome_problem(claim) == "Not saved: unknown outcome 'mortality' for claim c."
