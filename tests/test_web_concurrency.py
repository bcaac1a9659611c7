"""A curator grades in Chromium while another process keeps writing thousands of articles to the store.

DuckDB lets one process hold the file at a time; the app reads on short read-only connections that
wait out the writer's lock (flows.store.db.connect), and grades go to JSONL files, not the store.
Proof: no error page, every grade on disk, and the writer really was writing throughout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Response, expect, sync_playwright

from flows.curation.journal import read_events
from flows.store.db import connect
from tests.web_fixtures import CHROMIUM_ARGS, CLAIM_SINGLE, PASSWORDS, build_site, serve

REPO = Path(__file__).resolve().parent.parent

# A refresh-like writer: opens the store, upserts a batch of 2,000 new articles, closes, repeats
# until the test says stop.
WRITER = r"""
import datetime as dt, sys, time
from pathlib import Path
from flows.pubmed.records import AbstractSection, Article, Journal, PubDate
from flows.store.articles import upsert_articles
from flows.store.db import connect

db, stop, batch = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
end = time.monotonic() + 240  # a safety net: the test creates `stop` when the curator is done
n = 0
while time.monotonic() < end and not stop.exists():
    articles = [
        Article(pmid=str(50_000_000 + n * batch + i), title=f"Bulk record {n}-{i} about menaquinone",
                abstract=(AbstractSection(text="Synthetic abstract text " * 20, label="RESULTS"),),
                journal=Journal(title="Bulk"), pub_date=PubDate(raw="2020", sort_date="2020-01-01", precision="year"))
        for i in range(batch)
    ]
    with connect(db) as con:
        upsert_articles(con, articles, dt.datetime(2026, 11, 24, 12))
    n += 1
    print(f"batch {n} at {time.time():.3f}", flush=True)
    time.sleep(0.2)  # a refresh is paced by NCBI (3 requests/s): it never holds the file nonstop
"""


@pytest.mark.browser
@pytest.mark.slow
def test_grading_while_a_refresh_writes_the_store(tmp_path: Path) -> None:
    site = build_site(tmp_path)
    with connect(site.config.db_path) as con:
        before = int(con.execute("SELECT count(*) FROM articles").fetchone()[0])  # type: ignore[index]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stop = tmp_path / "stop-writing"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(site.config.db_path), str(stop), "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        with serve(site.config) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            failures: list[str] = []

            def check(response: Response) -> None:
                if response.status >= 400:
                    failures.append(f"{response.status} {response.url}")

            page.on("response", check)
            # Start grading only once the writer holds the file now and then.
            assert writer.stdout is not None
            first_batch = writer.stdout.readline()
            assert first_batch.startswith("batch 1"), writer.stderr.read() if writer.stderr else ""
            started = time.time()
            page.goto(base + "/login")
            page.fill("#curator", "alice")
            page.fill("#password", PASSWORDS["alice"])
            page.click("#sign-in")
            page.goto(f"{base}/claims/{CLAIM_SINGLE}")
            graded = []
            for keys in (("5", "s"), ("3", "c"), ("x", "2"), ("2", "n"), ("6", "m"), ("1", "u")):
                pmid = page.locator("#study").get_attribute("data-pmid")
                assert pmid
                for key in keys:
                    page.keyboard.press(key)
                expect(page.locator("#flash")).to_contain_text(
                    f"Saved your grade for PMID {pmid}", timeout=30_000
                )
                graded.append(pmid)
                page.goto(f"{base}/")  # a full dashboard read of the store between grades
                expect(page.locator(f"#claim-{CLAIM_SINGLE}")).to_be_visible()
                page.goto(f"{base}/claims/{CLAIM_SINGLE}")
            finished = time.time()
            expect(page.locator("#queue-empty")).to_be_visible()
            still_writing = writer.poll() is None
            browser.close()
        assert failures == []
        assert still_writing, "the writer stopped before the curator finished: the test proved nothing"
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    batches = [float(line.split(" at ")[1]) for line in [first_batch, *out.splitlines()] if " at " in line]
    during = [t for t in batches if started <= t <= finished]
    assert len(during) >= 2, f"only {len(during)} writer batches landed while grading"
    events = read_events(site.project_dir)
    assert [e.pmid for e in events] == graded and len(set(graded)) == 6
    with connect(site.config.db_path) as con:
        after = int(con.execute("SELECT count(*) FROM articles").fetchone()[0])  # type: ignore[index]
    assert after == before + 2000 * len(batches)


# Holds the store the way a refresh does mid-batch: a write connection, open until told to stop.
HOLDER = r"""
import datetime as dt, sys, time
from pathlib import Path
from flows.pubmed.records import Article, Journal, PubDate
from flows.store.articles import upsert_articles
from flows.store.db import connect

db, stop = Path(sys.argv[1]), Path(sys.argv[2])
with connect(db) as con:
    upsert_articles(con, [Article(pmid="51000001", title="Held", journal=Journal(title="J"),
                                  pub_date=PubDate(raw="2020", sort_date="2020-01-01", precision="year"))],
                    dt.datetime(2026, 11, 24, 12))
    con.execute("CHECKPOINT")
    print("holding", flush=True)
    while not stop.exists():
        time.sleep(0.02)
"""


def test_a_grading_action_never_waits_for_a_refresh_holding_the_store(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from flows.store.db import DEFAULT_WAIT_SECONDS
    from flows.web.app import create_app
    from tests.test_hardening_files import GRADE_FORM, _signed_in

    site = build_site(tmp_path)
    client = TestClient(create_app(site.config), base_url="http://127.0.0.1")  # loopback Host only
    headers = _signed_in(client, "alice")  # the claim page read (and cached) the store
    stop = tmp_path / "stop-holding"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(site.config.db_path), str(stop)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        first = site.single[0]
        started = time.monotonic()
        held = client.post(f"/claims/{CLAIM_SINGLE}/studies/{first}/grade", data=GRADE_FORM, headers=headers)
        elapsed = time.monotonic() - started
        assert held.status_code == 200 and f"Saved your grade for PMID {first}" in held.text
        assert 'id="stale-note"' in held.text  # the store changed and is held: served as last read
        assert elapsed < min(5.0, DEFAULT_WAIT_SECONDS), elapsed
    finally:
        stop.touch()
        _, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    second = site.single[1]
    after = client.post(f"/claims/{CLAIM_SINGLE}/studies/{second}/grade", data=GRADE_FORM, headers=headers)
    assert after.status_code == 200 and 'id="stale-note"' not in after.text  # read afresh once free
    assert [e.pmid for e in read_events(site.project_dir, strict=True)] == [first, second]
