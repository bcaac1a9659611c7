"""A newcomer's first blind review on the K2 showcase, in real headless Chromium: from a fresh demo
store (the `litgrade demo` flow), two reviewers per study, the team's grades first."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from flows.curation.events import GradeEvent
from flows.curation.journal import append_event, now_timestamp, read_events
from flows.curation.ladder import load_ladder
from flows.curation.review import final_grades
from flows.pipeline.demo import run_demo
from flows.project.claims import Project, load_project
from flows.web.auth import PasswordStore
from flows.web.data import WebConfig
from tests.cli_helpers import run_cli
from tests.web_fixtures import CHROMIUM_ARGS, serve

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parent.parent
NOTES = REPO.parent / "notes"
CLAIM = "k2-keeps-arteries-flexible-blood-flow"
# The claim's studies in queue order, with the K2 team's grades (curated/k2-muscle/grades):
S1, S2, S3, S4 = "25694037", "27175730", "28620475", "30514729"  # rct, non-randomised, excluded, review
PASSWORDS = {"k2-team": "team-password-1", "nora": "nora-password-22", "k2-lead": "lead-password-333"}


@dataclass(frozen=True)
class Showcase:
    config: WebConfig
    project: Project


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("demo")
    run_demo(out_dir=work / "reports", work_dir=work / "work")
    return work / "work" / "litgrade.duckdb"


@pytest.fixture()
def showcase(tmp_path: Path, demo_store: Path, capsys: pytest.CaptureFixture[str]) -> Showcase:
    """The showcase project copied out of the repository (two reviewers per study), a newcomer added
    with `litgrade curator add` as a new curator would be."""
    folder = tmp_path / "curated" / "k2-muscle"
    shutil.copytree(REPO / "curated" / "k2-muscle", folder, ignore=shutil.ignore_patterns("snapshot"))
    assert "\nreviewers: 2\n" in (folder / "claims.yaml").read_text(encoding="utf-8")
    added = run_cli(capsys, "curator", "add", str(folder), "nora", "--name", "Nora Newcomer")
    assert added.code == 0, added.err
    db = tmp_path / "k2-store.duckdb"
    shutil.copy(demo_store, db)
    project = load_project(folder)
    data_dir = tmp_path / "data"
    passwords = PasswordStore(data_dir, project.name)
    for curator, password in PASSWORDS.items():
        passwords.set_password(curator, password)
    return Showcase(WebConfig(project, db, data_dir), project)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def sign_in(browser: Browser, base: str, curator: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(base + "/login")
    page.fill("#curator", curator)
    page.fill("#password", PASSWORDS[curator])
    page.click("#sign-in")
    expect(page).to_have_url(base + "/")
    return page


def pmid_of(page: Page) -> str:
    return str(page.locator("#study").get_attribute("data-pmid"))


def shown(page: Page, pmid: str) -> None:
    expect(page.locator("#study")).to_have_attribute("data-pmid", pmid)


def agreement(capsys: pytest.CaptureFixture[str], project: Project) -> dict[str, dict[str, object]]:
    result = run_cli(capsys, "agreement", str(project.dir), "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert all(set(r) >= {"pair", "field", "n", "percent", "kappa"} for r in rows)
    return {r["field"]: r for r in rows if r["pair"] == ["k2-team", "nora"]}


def test_newcomer_blind_review_conflict_skip_records_adjudication_and_agreement(
    browser: Browser, showcase: Showcase, capsys: pytest.CaptureFixture[str]
) -> None:
    ladder = load_ladder()
    key = {c.id: c.key for c in ladder.levels} | {c.id: c.key for c in ladder.directions}
    project = showcase.project
    with serve(showcase.config) as base:
        nora = sign_in(browser, base, "nora")
        nora.goto(f"{base}/claims/{CLAIM}")
        shown(nora, S1)
        # Blind: the team's grade exists but is not shown.
        expect(nora.locator("#blind-note")).to_contain_text("1 other grade hidden")
        expect(nora.locator("#study")).not_to_contain_text("curation team")
        expect(nora.locator("#keys")).to_contain_text("skip for now")
        nora.keyboard.press(key["rct"])
        nora.keyboard.press(key["supports"])  # agrees with the team
        shown(nora, S2)
        expect(nora.locator("#flash")).to_have_text(f"Saved your grade for PMID {S1}.")

        nora.keyboard.press("k")  # skip S2 …
        shown(nora, S3)
        expect(nora.locator("#flash")).to_contain_text(f"Skipped: PMID {S2} moved to the end")
        nora.keyboard.press("b")  # … and come back to it
        shown(nora, S2)
        nora.keyboard.press(key["nonrandomized_trial"])
        nora.keyboard.press(key["no_effect"])
        shown(nora, S3)

        # The team excluded S3; Nora includes it: the conflict is told at once, with the other grade.
        expect(nora.locator("#blind-note")).to_be_visible()
        nora.keyboard.press(key["human_observational"])
        nora.keyboard.press(key["no_effect"])
        shown(nora, S4)
        flash = nora.locator("#flash")
        expect(flash).to_contain_text(f"Conflict on PMID {S3}: litgrade K2 curation team chose exclude")
        nora.screenshot(path=str(NOTES / "review-conflict-feedback.png"), full_page=True)

        before = agreement(capsys, project)
        # relevance, team I I E, nora I I I: p_o = 2/3, p_e = 2/3·1 + 1/3·0 = 2/3 → kappa 0
        assert (before["relevance"]["n"], round(before["relevance"]["percent"], 1)) == (3, 66.7)
        assert before["relevance"]["kappa"] == pytest.approx(0.0)
        # level, both included on S1, S2: (rct, rct), (non-randomised, non-randomised) → 100 %, kappa 1
        assert (before["level"]["n"], before["level"]["percent"], before["level"]["kappa"]) == (2, 100.0, 1.0)

        # Undo after seeing the team's grade: the grade is withdrawn, the conflict and the figures stay.
        nora.keyboard.press("z")
        shown(nora, S3)
        expect(nora.locator("#flash")).to_contain_text(f"Undone: your grade for PMID {S3}")
        expect(nora.locator("#flash")).to_contain_text("stays in conflict until an adjudicator settles it")
        expect(nora.locator(".other-grade")).to_contain_text("litgrade K2 curation team")  # still unblinded
        expect(nora.locator(".conflict-count")).to_have_text("1 in conflict")
        assert agreement(capsys, project) == before
        nora.keyboard.press("?")  # "maybe": parked, to come back to
        shown(nora, S4)
        expect(nora.locator("#flash")).to_contain_text(f"Marked maybe: PMID {S3} moved to the end")

        # The records list, filtered by key: conflicts, then the ones Nora still has to do.
        nora.goto(f"{base}/claims/{CLAIM}/records")
        expect(nora.locator("#my-progress")).to_contain_text("You have graded 2 of 4; 1 left in your queue")
        nora.keyboard.press("4")  # "in conflict"
        expect(nora).to_have_url(re.compile(r"status=conflict$"))
        expect(nora.locator("tr.record")).to_have_count(1)
        expect(nora.locator(f"#record-{S3} .status")).to_have_text("in conflict")
        expect(nora.locator(f"#record-{S3}")).to_contain_text("withdrawn after unblinding; still counts: include")
        nora.screenshot(path=str(NOTES / "review-records-conflict.png"), full_page=True)
        nora.keyboard.press("2")  # "mine to do"
        expect(nora.locator("tr.record")).to_have_count(1)
        expect(nora.locator(f"#record-{S4}")).to_be_visible()
        nora.locator("#level-filter").select_option("rct")
        nora.click("#level-apply")
        expect(nora.locator("#no-records")).to_be_visible()  # S4 is not final yet
        nora.goto(f"{base}/claims/{CLAIM}/records")
        nora.keyboard.press("7")  # "my maybes"
        expect(nora).to_have_url(re.compile(r"status=maybe$"))
        expect(nora.locator("tr.record")).to_have_count(1)
        expect(nora.locator(f"#record-{S3} .tag")).to_have_text("maybe")

        # The showcase's adjudicator (k2-lead, who graded none of it) settles S3 by key.
        team = sign_in(browser, base, "k2-lead")
        team.goto(f"{base}/claims/{CLAIM}/conflicts")
        conflict = team.locator(f"#conflict-{S3}")
        expect(conflict.locator(".summary")).to_be_visible()
        expect(conflict.locator(".party")).to_have_count(0)
        expect(team.locator("#keys")).to_contain_text("choose that reviewer's independent grade")
        team.screenshot(path=str(NOTES / "review-conflicts-queue.png"), full_page=True)
        team.keyboard.press("1")  # k2-team's grade (candidates in curator order)
        expect(team.locator("#no-conflicts")).to_be_visible()

        events = read_events(project.dir)
        finals = {f.pmid: f for f in final_grades(project, events) if f.claim == CLAIM}
        assert (finals[S3].decided_by, finals[S3].relevance, finals[S3].self_adjudicated) == (
            "adjudication", "exclude", False,
        )  # fmt: skip
        assert finals[S1].decided_by == "agreement" and S4 in finals  # S4: the team's grade, "single"
        assert finals[S4].decided_by == "single"
        # The team's own grade of S3 still stands beside the adjudication; agreement is unchanged.
        assert [e.kind for e in events if e.pmid == S3 and e.claim == CLAIM and e.curator == "k2-team"] == ["grade"]
        assert [e.kind for e in events if e.pmid == S3 and e.claim == CLAIM and e.curator == "k2-lead"] == [
            "adjudication",
        ]  # fmt: skip
        assert agreement(capsys, project) == before
        # Other claims keep their reports: each study graded once by the team counts as "single".
        assert sum(f.decided_by == "single" for f in final_grades(project, events)) >= 60
        nora.close()
        team.close()


def test_a_save_repeated_with_the_same_key_writes_one_event(showcase: Showcase) -> None:
    with serve(showcase.config) as base, httpx.Client(base_url=base) as client:
        token = re.search(r'name="token" value="([^"]+)"', client.get("/login").text)
        assert token
        client.post("/login", data={"curator": "nora", "password": PASSWORDS["nora"], "token": token.group(1)})
        page = client.get(f"/claims/{CLAIM}?pmid={S4}").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        save_key = re.search(r'name="save_key" value="([^"]+)"', page)
        assert csrf and save_key
        form = {
            "csrf_token": csrf.group(1), "save_key": save_key.group(1), "relevance": "include",
            "level": "systematic_review", "direction": "no_effect", "risk_of_bias": "some_concerns",
            "bias_domain": "review_methods", "indirectness": "direct", "outcome_kind": "clinical",
        }  # fmt: skip
        headers = {"HX-Request": "true"}
        first = client.post(f"/claims/{CLAIM}/studies/{S4}/grade", data=form, headers=headers)
        again = client.post(f"/claims/{CLAIM}/studies/{S4}/grade", data=form, headers=headers)
        assert first.status_code == again.status_code == 200
        assert f"Saved your grade for PMID {S4}." in first.text
        assert f"Already saved: your grade for PMID {S4}." in again.text
        mine = [e for e in read_events(showcase.project.dir) if e.curator == "nora"]
        assert len(mine) == 1
        assert (mine[0].risk_of_bias, mine[0].bias_domain, mine[0].outcome_kind) == (
            "some_concerns", "review_methods", "clinical",
        )  # fmt: skip
        # A new form (a new key) is a new save.
        page = client.get(f"/claims/{CLAIM}?pmid={S4}").text
        fresh = re.search(r'name="save_key" value="([^"]+)"', page)
        assert fresh and fresh.group(1) != save_key.group(1)
        broken = client.post(f"/claims/{CLAIM}/studies/{S4}/grade", data=form | {"save_key": "../x"}, headers=headers)
        assert broken.status_code == 400
        assert len([e for e in read_events(showcase.project.dir) if e.curator == "nora"]) == 1


def _client(base: str, curator: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base)
    token = re.search(r'name="token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"curator": curator, "password": password, "token": token.group(1)})
    return client


def test_a_party_to_the_conflict_is_refused_when_another_adjudicator_exists(showcase: Showcase) -> None:
    folder = showcase.project.dir
    curators = folder / "curators.yaml"
    text = curators.read_text(encoding="utf-8")
    team_entry = '  - id: k2-team\n    name: "litgrade K2 curation team"\n    role: curator\n'
    assert team_entry in text
    curators.write_text(text.replace(team_entry, team_entry.replace("curator\n", "adjudicator\n")), encoding="utf-8")
    append_event(
        folder,
        GradeEvent(claim=CLAIM, pmid=S3, curator="nora", timestamp=now_timestamp(), relevance="include",
                   level="human_observational", direction="no_effect"),
    )  # fmt: skip
    with serve(showcase.config) as base:
        team = _client(base, "k2-team", PASSWORDS["k2-team"])
        page = team.get(f"/claims/{CLAIM}/conflicts").text
        assert "You may not settle this one: you graded PMID 28620475 yourself" in page
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        form = {"csrf_token": csrf.group(1), "relevance": "exclude", "exclude_reason": "wrong_outcome"}
        refused = team.post(f"/claims/{CLAIM}/studies/{S3}/adjudicate", data=form)
        assert refused.status_code == 403
        assert (
            f"Not saved: you graded PMID {S3} yourself, so you are party to this conflict; "
            "another adjudicator (k2-lead) settles it." in refused.text
        )
        assert not [e for e in read_events(folder) if e.kind == "adjudication"]
        dana = _client(base, "k2-lead", PASSWORDS["k2-lead"])
        page = dana.get(f"/claims/{CLAIM}/conflicts").text
        assert "You may not settle" not in page
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        settled = dana.post(
            f"/claims/{CLAIM}/studies/{S3}/adjudicate", data=form | {"csrf_token": csrf.group(1)},
            follow_redirects=False,
        )  # fmt: skip
        assert settled.status_code == 303
        [final] = [f for f in final_grades(showcase.project, read_events(folder)) if (f.claim, f.pmid) == (CLAIM, S3)]
        assert (final.decided_by, final.self_adjudicated, final.curators) == (
            "adjudication", False, ("k2-team", "nora", "k2-lead"),
        )  # fmt: skip
        team.close()
        dana.close()
