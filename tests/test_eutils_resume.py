"""A refresh killed part-way through its EFetch batches resumes on the next run and ends complete,
fetching only what the killed run had not stored (issue 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.db_helpers import rows
from tests.standin import Corpus, Latency, StandIn, start_standin

TOTAL = 2_000



def _fetched_ok(server: StandIn) -> int:
    return len([e for e in server.entries("efetch") if e.status == 200])


@pytest.mark.slow
def test_killed_refresh_resumes_and_completes(
    tmp_path: Path,
    tmp_db: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = tmp_path / "resume"
    project.mkdir()
    (project / "claims.yaml").write_text(
        'article:\n  title: "Resume"\n  date_read: 2026-11-24\n'
        'claims:\n  - id: many\n    text: "Many studies"\n    query: "resume test"\n',
        encoding="utf-8",
    )
    corpus = Corpus()
    everything = set(corpus.add_synthetic_query("resume test", TOTAL))
    # Slow answers (5.5 s per batch of 500) so the kill lands while batches are in flight.
    with start_standin(corpus, latency=Latency(0.5, 0.01)) as server:
        env = {**os.environ, "LITGRADE_EUTILS_URL": server.base_url, "LITGRADE_DB": str(tmp_db)}
        from prefect.settings import PREFECT_API_URL

        api = PREFECT_API_URL.value()
        if api:  # the session's Prefect API: the child need not start its own
            env["PREFECT_API_URL"] = api
        proc = subprocess.Popen(
            [sys.executable, "-c", "from flows.cli import main; main()", "refresh", str(project)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own group: the kill also takes any Prefect server it started
        )
        try:
            deadline = time.monotonic() + 120
            while _fetched_ok(server) < 2 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # let the answered batches reach the store
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"refresh ended before it could be killed: {err[-2000:]}")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        killed_with = {p for (p,) in rows(tmp_db, "SELECT pmid FROM articles")}
        assert killed_with < everything  # part-way: some, not all
        assert rows(tmp_db, "SELECT status FROM search_runs") == [("running",)]

        assert server.wait_idle()  # the killed run's requests still being answered
        server.clear_log()
        monkeypatch.setenv("LITGRADE_EUTILS_URL", server.base_url)
        second = run_cli(capsys, "refresh", str(project))
        assert second.code == 0, second.err
        asked = [p for e in server.entries("efetch") for p in e.params["id"].split(",")]
    assert sorted(asked) == sorted(everything - killed_with)  # nothing stored is fetched again
    assert rows(tmp_db, "SELECT count(*), count(DISTINCT pmid) FROM articles") == [(TOTAL, TOTAL)]
    statuses = [s for (s,) in rows(tmp_db, "SELECT status FROM search_runs ORDER BY started_at, status")]
    assert "completed" in statuses
