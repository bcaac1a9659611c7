"""The curator web app in real headless Chromium (Playwright), served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from flows.curation.events import GradeEvent
from flows.curation.journal import append_event, read_events
from flows.curation.review import final_grades
from tests.web_fixtures import (
    CHROMIUM_ARGS,
    CLAIM_BLIND,
    CLAIM_SINGLE,
    PASSWORDS,
    RUN_WARNING,
    XSS_PMID,
    WebSite,
    build_site,
    serve,
)

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SHOWCASE_PMID = "29768149"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture()
def site(tmp_path: Path, samples_dir: Path) -> WebSite:
    return build_site(tmp_path, samples_dir)


@pytest.fixture()
def base_url(site: WebSite) -> Iterator[str]:
    with serve(site.config) as url:
        yield url


class Watched:
    """A page plus everything it asked for and complained about."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.requests: list[str] = []
        self.console: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.base = base

    def outside_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.base + "/")]


def sign_in(browser: Browser, base: str, curator: str) -> Watched:
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    watched = Watched(page, base)
    page.goto(base + "/")
    expect(page).to_have_url(base + "/login")
    page.fill("#curator", curator)
    page.fill("#password", PASSWORDS[curator])
    page.click("#sign-in")
    expect(page).to_have_url(base + "/")
    expect(page.locator("#who")).to_contain_text(curator)
    return watched


def current_pmid(page: Page) -> str:
    return str(page.locator("#study").get_attribute("data-pmid"))


def wait_for_next(page: Page, previous: str) -> str:
    expect(page.locator("#study")).not_to_have_attribute("data-pmid", previous)
    return current_pmid(page)


def test_grade_three_by_keyboard_progress_undo_xss_and_screenshot(
    browser: Browser, site: WebSite, base_url: str
) -> None:
    w = sign_in(browser, base_url, "alice")
    page = w.page
    row = page.locator(f"#claim-{CLAIM_SINGLE}")
    expect(row).to_contain_text("0 final")
    row.get_by_role("link", name="Screen").click()
    expect(page.locator("#study")).to_be_visible()
    total = len(site.single)
    expect(page.locator(".todo-count")).to_have_text(f"{total} ungraded")

    # The hostile record: its markup must be inert text.
    page.goto(f"{base_url}/claims/{CLAIM_SINGLE}?pmid={XSS_PMID}")
    assert current_pmid(page) == XSS_PMID
    title = page.locator("#study-title")
    expect(title).to_contain_text("<script>window.__litgrade_xss=1</script>")
    expect(title).to_contain_text('<img src=x onerror="window.__litgrade_xss=2">')
    assert title.locator("sup").count() == 1  # the safe subset still renders as markup
    assert page.locator("#study script, #study img, #study svg[onload], #study [onclick]").count() == 0
    assert page.evaluate("window.__litgrade_xss") is None
    expect(page.locator("#abstract")).to_contain_text("<script>window.__litgrade_xss=3</script>")
    expect(title.locator("mark").first).to_have_text("Menaquinone")  # query terms highlighted

    page.goto(f"{base_url}/claims/{CLAIM_SINGLE}")
    assert current_pmid(page) == site.single[0]  # the queue follows the search hits' order
    page.evaluate("window.__still_same_page = true")  # survives only if no full reload happens
    first = current_pmid(page)
    page.keyboard.press("5")
    page.keyboard.press("s")  # level + direction → saved, next study swapped in
    second = wait_for_next(page, first)
    expect(page.locator("#flash")).to_contain_text(f"Saved your grade for PMID {first}")
    expect(page.locator(".final-count")).to_have_text("1 final")

    page.keyboard.press("x")
    expect(page.locator("#reasons")).to_be_visible()
    page.keyboard.press("1")  # exclude: off topic
    third = wait_for_next(page, second)
    expect(page.locator(".final-count")).to_have_text("2 final")

    page.keyboard.press("t")
    page.keyboard.type("dialysis patients only; n=42 <b>not markup</b>")
    page.keyboard.press("Escape")
    page.keyboard.press("3")
    page.keyboard.press("c")
    fourth = wait_for_next(page, third)
    expect(page.locator(".final-count")).to_have_text("3 final")
    expect(page.locator(".todo-count")).to_have_text(f"{total - 3} ungraded")
    assert page.evaluate("window.__still_same_page") is True

    mine = [e for e in read_events(site.project_dir) if e.curator == "alice"]
    assert [(e.pmid, e.relevance, e.level, e.direction, e.exclude_reason) for e in mine] == [
        (first, "include", "rct", "supports", None),
        (second, "exclude", None, None, "off_topic"),
        (third, "include", "human_observational", "contradicts", None),
    ]
    assert mine[2].note == "dialysis patients only; n=42 <b>not markup</b>"

    page.keyboard.press("z")  # undo the last grade: that study comes back
    expect(page.locator("#study")).to_have_attribute("data-pmid", third)
    expect(page.locator("#flash")).to_contain_text(f"Undone: your grade for PMID {third}")
    expect(page.locator(".final-count")).to_have_text("2 final")
    assert read_events(site.project_dir)[-1].kind == "retract"
    assert fourth != third

    # Back at the dashboard the progress moved too.
    page.goto(base_url + "/")
    expect(page.locator(f"#claim-{CLAIM_SINGLE} .final-count")).to_have_text("2 final")

    page.goto(f"{base_url}/claims/{CLAIM_SINGLE}?pmid={first}")
    expect(page.locator("#my-grade")).to_contain_text("Randomised controlled trial")
    # The screenshot shows a real RCT record with labelled abstract sections when the parser is in.
    shown = SHOWCASE_PMID if SHOWCASE_PMID in site.single else first
    page.goto(f"{base_url}/claims/{CLAIM_SINGLE}?pmid={shown}")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screening.png"), full_page=True)

    history = page.goto(f"{base_url}/claims/{CLAIM_SINGLE}/studies/{third}/history")
    assert history is not None and history.status == 200
    rows = page.locator("#history tr.event")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("withdrawn (undo)")
    expect(page.locator("#history")).to_contain_text("<b>not markup</b>")

    assert w.outside_requests() == []
    assert not [m for m in w.console if "Content Security Policy" in m or m.startswith("pageerror")], (
        w.console
    )
    page.close()


def test_blind_second_curator_then_adjudication(browser: Browser, site: WebSite, base_url: str) -> None:
    alice = sign_in(browser, base_url, "alice").page
    alice.goto(f"{base_url}/claims/{CLAIM_BLIND}")
    study = current_pmid(alice)
    alice.keyboard.press("5")
    alice.keyboard.press("s")
    wait_for_next(alice, study)
    expect(alice.locator(".partial-count")).to_have_text("1 awaiting a second grade")

    bob = sign_in(browser, base_url, "bob").page
    bob.goto(f"{base_url}/claims/{CLAIM_BLIND}")
    assert current_pmid(bob) == study
    expect(bob.locator("#blind-note")).to_contain_text("1 other grade hidden")
    expect(bob.locator("#study")).not_to_contain_text("Alice Curator")
    bob.goto(f"{base_url}/claims/{CLAIM_BLIND}/studies/{study}/history")
    expect(bob.locator("#history")).not_to_contain_text("alice")
    expect(bob.locator("p.blind")).to_contain_text("hidden until you grade")

    bob.goto(f"{base_url}/claims/{CLAIM_BLIND}")
    bob.keyboard.press("2")  # animal — disagrees with alice's rct
    bob.keyboard.press("s")
    wait_for_next(bob, study)
    expect(bob.locator(".conflict-count")).to_have_text("1 in conflict")
    bob.goto(f"{base_url}/claims/{CLAIM_BLIND}?pmid={study}")
    expect(bob.locator(".other-grade")).to_contain_text("Alice Curator")  # visible once graded
    response = bob.goto(f"{base_url}/claims/{CLAIM_BLIND}/conflicts")
    assert response is not None and response.status == 403  # curators do not adjudicate

    carol = sign_in(browser, base_url, "carol").page
    carol.goto(f"{base_url}/claims/{CLAIM_BLIND}/conflicts")
    conflict = carol.locator(f"#conflict-{study}")
    expect(conflict.locator(".candidate")).to_have_count(3)  # alice | bob | write your own
    expect(conflict).to_contain_text("Randomised controlled trial")
    expect(conflict).to_contain_text("Animal")
    conflict.locator("button.choose[data-curator=alice]").click()
    expect(carol.locator("#no-conflicts")).to_be_visible()

    project = site.config.project
    final = [f for f in final_grades(project, read_events(site.project_dir)) if f.pmid == study]
    assert len(final) == 1 and final[0].claim == CLAIM_BLIND
    assert (final[0].decided_by, final[0].level, final[0].direction) == ("adjudication", "rct", "supports")
    carol.goto(base_url + "/")
    expect(carol.locator(f"#claim-{CLAIM_BLIND} .final-count")).to_have_text("1 final")
    for page in (alice, bob, carol):
        page.close()


def test_adjudicator_writes_the_final_grade(browser: Browser, site: WebSite, base_url: str) -> None:
    study = site.blind[1]
    for minute, (curator, level) in enumerate((("alice", "rct"), ("bob", "human_observational"))):
        append_event(
            site.project_dir,
            GradeEvent(claim=CLAIM_BLIND, pmid=study, curator=curator, timestamp=f"2026-11-24T10:0{minute}:00Z",
                       relevance="include", level=level, direction="supports"),
        )  # fmt: skip
    page = sign_in(browser, base_url, "carol").page
    page.goto(f"{base_url}/claims/{CLAIM_BLIND}/conflicts")
    form = page.locator(f"#conflict-{study} form.write-final")
    form.locator("select[name=relevance]").select_option("exclude")
    form.locator("select[name=exclude_reason]").select_option("duplicate")
    form.locator("input[name=note]").fill("same trial as PMID 99000002")
    form.get_by_role("button", name="Record final grade").click()
    expect(page.locator("#no-conflicts")).to_be_visible()
    [final] = [f for f in final_grades(site.config.project, read_events(site.project_dir)) if f.pmid == study]
    assert (final.decided_by, final.relevance, final.exclude_reason, final.level) == (
        "adjudication", "exclude", "duplicate", None,
    )  # fmt: skip
    assert final.note == "same trial as PMID 99000002"
    page.close()


def _signed_in_client(base: str, curator: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base)
    token = re.search(r'name="token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"curator": curator, "password": PASSWORDS[curator], "token": token.group(1)})
    page = client.get(f"/claims/{CLAIM_SINGLE}").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    return client, csrf.group(1)


def test_csrf_and_curator_identity(site: WebSite, base_url: str) -> None:
    client, csrf = _signed_in_client(base_url, "alice")
    pmid = site.single[1]
    url = f"/claims/{CLAIM_SINGLE}/studies/{pmid}/grade"
    form = {"relevance": "include", "level": "rct", "direction": "supports", "curator": "bob"}
    assert client.post(url, data=form).status_code == 403
    assert client.post(url, data={**form, "csrf_token": "forged"}).status_code == 403
    assert client.post(url, data=form, headers={"X-CSRF-Token": csrf + "x"}).status_code == 403
    assert client.post(f"/claims/{CLAIM_SINGLE}/undo", data={}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    assert read_events(site.project_dir) == []
    # Sign-in itself needs the form's signed token.
    assert (
        httpx.post(base_url + "/login", data={"curator": "alice", "password": PASSWORDS["alice"]}).status_code
        == 403
    )

    ok = client.post(url, data=form, headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert ok.status_code == 200
    events = read_events(site.project_dir)
    assert [(e.curator, e.pmid) for e in events] == [("alice", pmid)]  # the form's "bob" is ignored

    bad = client.post(
        url,
        data={"relevance": "include", "level": "bogus"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert bad.status_code == 422 and "Not saved" in bad.text
    assert (
        client.post(
            f"/claims/{CLAIM_SINGLE}/studies/12345/grade", data=form, headers={"X-CSRF-Token": csrf}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/claims/{CLAIM_SINGLE}/studies/..%2f..%2fetc/grade", data=form, headers={"X-CSRF-Token": csrf}
        ).status_code
        == 404
    )
    adjudicate = client.post(
        f"/claims/{CLAIM_SINGLE}/studies/{pmid}/adjudicate", data=form, headers={"X-CSRF-Token": csrf}
    )
    assert adjudicate.status_code == 403
    assert len(read_events(site.project_dir)) == 1

    headers = client.get("/").headers
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert headers["x-frame-options"] == "DENY"
    wrong = httpx.Client(base_url=base_url)
    token = re.search(r'name="token" value="([^"]+)"', wrong.get("/login").text)
    assert token
    denied = wrong.post(
        "/login", data={"curator": "alice", "password": "wrong-password", "token": token.group(1)}
    )
    assert denied.status_code == 401 and "wrong password" in denied.text
    assert "litgrade_session" not in denied.headers.get("set-cookie", "")


def test_sign_out_ends_the_session(browser: Browser, base_url: str) -> None:
    w = sign_in(browser, base_url, "bob")
    page = w.page
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    cookie = page.context.cookies()[0]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    page.click("#sign-out")
    expect(page).to_have_url(base_url + "/login")
    page.goto(f"{base_url}/claims/{CLAIM_SINGLE}")
    expect(page).to_have_url(base_url + "/login")
    # The old cookie, replayed, no longer opens anything.
    replay = httpx.get(f"{base_url}/claims/{CLAIM_SINGLE}/search?q=cramp", cookies=cookies)
    assert replay.status_code == 401
    page.close()


def test_accept_suggested_level_with_a(browser: Browser, site: WebSite, base_url: str) -> None:
    page = sign_in(browser, base_url, "bob").page
    pmid = "99000003"
    page.goto(f"{base_url}/claims/{CLAIM_SINGLE}?pmid={pmid}")
    suggestion = page.locator("#suggestion")
    expect(suggestion).to_contain_text("Randomised controlled trial")  # synthetic records are RCTs
    level = suggestion.get_attribute("data-level")
    assert level == "rct"
    page.keyboard.press("a")
    expect(page.locator("button.choice.selected[data-field=level]")).to_have_attribute("data-value", "rct")
    page.keyboard.press("u")
    expect(page.locator("#flash")).to_contain_text(f"Saved your grade for PMID {pmid}")
    [event] = read_events(site.project_dir)
    assert (event.curator, event.pmid, event.level, event.direction) == ("bob", pmid, "rct", "unclear")
    page.close()


def test_incomplete_grade_and_expired_form_are_reported(
    browser: Browser, site: WebSite, base_url: str
) -> None:
    page = sign_in(browser, base_url, "alice").page
    page.goto(f"{base_url}/claims/{CLAIM_SINGLE}")
    pmid = current_pmid(page)
    page.keyboard.press("5")
    page.keyboard.press("Enter")  # a level but no direction
    expect(page.locator("#flash")).to_contain_text("Not saved: pick a direction")
    assert current_pmid(page) == pmid
    # A stale CSRF token (e.g. the server restarted): the answer is a visible message, not silence.
    page.evaluate("document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRF-Token': 'old'}))")
    page.keyboard.press("5")
    page.keyboard.press("s")
    expect(page.locator("#problem")).to_contain_text("This form has expired")
    assert current_pmid(page) == pmid
    assert read_events(site.project_dir) == []
    page.close()


def test_search_within_a_claim(browser: Browser, site: WebSite, base_url: str) -> None:
    page = sign_in(browser, base_url, "alice").page
    page.goto(f"{base_url}/claims/{CLAIM_SINGLE}/search")
    page.fill("#q", "trial 3")
    page.keyboard.press("Enter")
    expect(page.locator("#hit-count")).to_have_text("1 study matches “trial 3”.")
    page.fill("#q", "100%_")  # LIKE wildcards are searched literally
    page.keyboard.press("Enter")
    expect(page.locator("#hit-count")).to_contain_text("0 studies")
    page.fill("#q", "Menaquinone and cramps")  # the hostile record: its title is shown as text
    page.keyboard.press("Enter")
    expect(page.locator(".hits li")).to_contain_text("<script>window.__litgrade_xss=1</script>")
    assert page.locator(".hits script, .hits img").count() == 0
    assert page.evaluate("window.__litgrade_xss") is None
    page.fill("#q", "dialysis")
    page.keyboard.press("Enter")
    expect(page.locator(".hits li")).to_have_count(5)
    page.locator(".hits a").first.click()
    expect(page.locator("#study-title")).to_be_visible()
    page.close()


def test_dashboard_shows_newest_run_and_inert_article_url(
    browser: Browser, site: WebSite, base_url: str
) -> None:
    page = sign_in(browser, base_url, "carol").page
    row = page.locator(f"#claim-{CLAIM_SINGLE} .run")
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text(f"{len(site.single)} found, {len(site.single)} new")
    expect(row.locator(".warning")).to_contain_text(f"QuotedPhraseNotFound: {RUN_WARNING}")
    expect(page.locator(f"#claim-{CLAIM_SINGLE} .rating")).not_to_contain_text("not rated yet")
    assert page.locator("a[href^='javascript']").count() == 0
    expect(page.locator(".source")).to_contain_text("javascript:alert(1)")
    page.close()
