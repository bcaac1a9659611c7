"""The warm process (flows/cli/warm.py, warm_server.py) as real processes: a refresh handed to it
answers as the command itself would (output, exit code, store), a command it must not run (other
Prefect settings, code changed on disk) runs in its own process, and a command that is killed has
its warm child stopped with its runs marked interrupted."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.process_helpers import LITGRADE, REPO, child_env, litgrade, write_project
from tests.standin import Corpus, Latency, StandIn, start_standin

QUERIES = ["warm0[tiab]", "warm1[tiab]"]


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    corpus = Corpus()
    for i, query in enumerate(QUERIES):
        corpus.add_synthetic_query(query, 4, first_pmid=73_000_000 + i * 10)
    with start_standin(corpus, rate_limit=False, today=dt.date(2026, 12, 1)) as server:
        yield server


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory, standin: StandIn) -> Iterator[tuple[dict[str, str], Path]]:
    """A data folder whose local server and warm process `litgrade server start` brought up."""
    data = tmp_path_factory.mktemp("warm-data")
    env = child_env(data, LITGRADE_EUTILS_URL=standin.base_url)
    started = litgrade(env, "server", "start")
    assert started.returncode == 0, started.stderr
    assert re.search(r"warm process pid \d+", started.stdout), started.stdout
    project = write_project(data / "curated", QUERIES)
    try:
        yield env, project
    finally:
        litgrade(env, "server", "stop", timeout=60)


def _children_run(data: Path) -> int:
    """Commands the warm process has run so far (one log line per child that ended)."""
    log = data / "prefect-server" / "warm.log"
    return len(re.findall(r"child \d+ exited", log.read_text(encoding="utf-8"))) if log.exists() else 0


def _until_warm(env: dict[str, str], data: Path) -> None:
    """Wait until the warm process takes commands (a quick one: an unknown project, exit 2)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ran = _children_run(data)
        litgrade(env, "refresh", "no-such-project", timeout=60)
        if _children_run(data) > ran:
            return
        time.sleep(0.5)
    raise AssertionError("no warm process took a command within 60 s")


def _statuses(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT status FROM search_runs ORDER BY run_id").fetchall()]


def test_a_refresh_in_the_warm_process_answers_as_the_command(warm: tuple[dict[str, str], Path]) -> None:
    env, project = warm
    data = Path(env["LITGRADE_DATA"])
    ran = _children_run(data)
    first = litgrade(env, "refresh", str(project), "--run-time", "2026-11-24T06:00:00")
    assert first.returncode == 0, first.stderr
    assert "refreshed 2 claim(s) of proj: 8 new hit(s), 8 record(s) fetched" in first.stdout
    assert "✓ claim-0: 4 found (full), 4 new, 4 fetched" in first.stderr
    assert _children_run(data) == ran + 1  # the warm process ran it

    again = litgrade(env, "refresh", str(project), "--run-time", "2026-12-01T06:00:00")
    assert again.returncode == 0, again.stderr
    assert "0 new hit(s), 0 record(s) fetched" in again.stdout
    assert _children_run(data) == ran + 2
    assert _statuses(Path(env["LITGRADE_DB"])) == ["completed"] * 4
    status = litgrade(env, "status", str(project), timeout=60)
    assert status.stdout.count("] completed") == 2, status.stdout

    # A configuration error is answered by the warm child in one line, with the command's exit code.
    wrong = litgrade(env, "refresh", str(project), "--claim", "no-such-claim")
    assert wrong.returncode == 2
    assert wrong.stderr.count("\n") == 1 and wrong.stderr.startswith("litgrade: "), wrong.stderr
    assert "no-such-claim" in wrong.stderr
    assert _children_run(data) == ran + 3

    sock = data / "prefect-server" / "warm.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600  # this user's only


def test_other_prefect_settings_run_in_the_command_itself(warm: tuple[dict[str, str], Path]) -> None:
    env, project = warm
    data = Path(env["LITGRADE_DATA"])
    ran = _children_run(data)
    other = {**env, "PREFECT_LOGGING_LEVEL": "ERROR"}
    done = litgrade(other, "refresh", str(project), "--run-time", "2026-12-02T06:00:00")
    assert done.returncode == 0, done.stderr
    assert "refreshed 2 claim(s)" in done.stdout
    assert _children_run(data) == ran
    assert "declined a command: its prefect differs" in (data / "prefect-server" / "warm.log").read_text()


def test_code_changed_on_disk_is_not_run_by_the_old_warm_process(warm: tuple[dict[str, str], Path]) -> None:
    env, project = warm
    data = Path(env["LITGRADE_DATA"])
    record = data / "prefect-server" / "warm.json"
    old_pid = json.loads(record.read_text())["pid"]
    source = REPO / "flows" / "cli" / "warm.py"
    before = source.stat()
    # A new modification time is a change (git keeps no times, so the checkout is left as it was);
    # putting the old time back would be another change, so it stays.
    os.utime(source, ns=(before.st_atime_ns, time.time_ns()))
    done = litgrade(env, "refresh", str(project), "--run-time", "2026-12-03T06:00:00")
    assert done.returncode == 0, done.stderr
    log = (data / "prefect-server" / "warm.log").read_text()
    assert "the code changed on disk since this warm process imported it" in log
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the old one ends; the command started a new one
        pid = json.loads(record.read_text())["pid"] if record.exists() else None
        if pid not in (None, old_pid):
            break
        time.sleep(0.2)
    assert pid not in (None, old_pid)


def test_a_killed_command_has_its_warm_child_stopped_and_runs_marked(
    warm: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, _ = warm
    data = Path(env["LITGRADE_DATA"])
    corpus = Corpus()
    for i in range(2):
        corpus.add_synthetic_query(f"stuck{i}[tiab]", 3, first_pmid=74_000_000 + i * 10)
    project = write_project(tmp_path, ["stuck0[tiab]", "stuck1[tiab]"])
    db = tmp_path / "killed.duckdb"
    _until_warm(env, data)
    ran = _children_run(data)
    with start_standin(corpus, rate_limit=False, latency=Latency(15.0), today=dt.date(2026, 12, 1)) as slow:
        killed_env = {**env, "LITGRADE_DB": str(db), "LITGRADE_EUTILS_URL": slow.base_url}
        proc = subprocess.Popen([LITGRADE, "refresh", str(project)], env=killed_env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not slow.entries() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # until the searches are in flight (the stand-in takes 15 s to answer)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)  # the command vanishes; its child runs on in the warm process
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 15
        while _children_run(data) == ran and time.monotonic() < deadline:
            time.sleep(0.2)
    assert _children_run(data) == ran + 1, "the warm child did not stop"
    assert _statuses(db) == ["interrupted", "interrupted"]
