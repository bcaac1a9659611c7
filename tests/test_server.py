"""The local Prefect server (flows/pipeline/server.py) as real processes: started on first use, reused,
shared by two commands starting at once, a dead one replaced, a broken Prefect database set aside,
nothing listening beyond 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process_helpers import LITGRADE, REPO, child_env, litgrade, write_project
from tests.standin import Corpus, start_standin


def _info(data: Path) -> dict[str, object]:
    return dict(json.loads((data / "prefect-server" / "server.json").read_text(encoding="utf-8")))


def _stop(env: dict[str, str]) -> None:
    litgrade(env, "server", "stop", timeout=60)


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def _listening(pids: list[int]) -> list[str]:
    """Local addresses (hex, as /proc/net shows them) of the TCP sockets these processes listen on."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match:
                inodes.add(match.group(1))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                found.append(cols[1])
    return found


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], list[str]]]:
    """A data folder whose server was started by TWO commands at once; yields env and their outputs."""
    data = tmp_path_factory.mktemp("server-data")
    env = child_env(data)
    procs = [
        subprocess.Popen([LITGRADE, "server", "start"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    try:
        yield env, outputs
    finally:
        _stop(env)


def test_two_commands_starting_at_once_share_one_server(
    shared: tuple[dict[str, str], list[str]],
) -> None:
    env, outputs = shared
    urls = {re.search(r"running at (\S+) \(keeper pid (\d+)\)", out).groups() for out in outputs}  # type: ignore[union-attr]
    assert len(urls) == 1, outputs
    info = _info(Path(env["LITGRADE_DATA"]))
    assert urls == {(info["url"], str(info["pid"]))}
    assert sum(1 for _ in _group_pids(int(str(info["pid"])))) >= 2  # the keeper and the server


def test_a_running_server_is_found_and_reused(shared: tuple[dict[str, str], list[str]]) -> None:
    env, _ = shared
    before = _info(Path(env["LITGRADE_DATA"]))
    started = time.monotonic()
    again = litgrade(env, "server", "start", timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"running at {before['url']} (keeper pid {before['pid']})" in again.stdout
    assert time.monotonic() - started < 20  # no new server start-up (that takes far longer)
    status = litgrade(env, "server", "status", timeout=60)
    assert f"running at {before['url']}" in status.stdout


def test_nothing_listens_beyond_loopback(shared: tuple[dict[str, str], list[str]]) -> None:
    env, _ = shared
    info = _info(Path(env["LITGRADE_DATA"]))
    addresses = _listening(_group_pids(int(str(info["pid"]))))
    assert addresses, "the server listens somewhere"
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
    assert {a.split(":")[0] for a in addresses} <= loopback, addresses
    port = int(str(info["port"]))
    assert {int(a.split(":")[1], 16) for a in addresses} == {port}


_CLIENT_SETTINGS = """
import json, os, ssl
from flows.pipeline.server import use_prefect_server
url = use_prefect_server(start=False)
names = ("PREFECT_CLIENT_CSRF_SUPPORT_ENABLED", "PREFECT_API_SSL_CERT_FILE")
settings = {n: os.environ.get(n) for n in names}
if settings["PREFECT_API_SSL_CERT_FILE"]:
    ssl.create_default_context(cafile=settings["PREFECT_API_SSL_CERT_FILE"])  # a CA file that loads
print(json.dumps({"url": url, **settings}))
"""


def _client_settings(env: dict[str, str]) -> dict[str, str | None]:
    done = subprocess.run([sys.executable, "-c", _CLIENT_SETTINGS], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_local_servers_client_settings_apply_to_it_alone(
    shared: tuple[dict[str, str], list[str]],
) -> None:
    """The local server has no CSRF protection and no TLS: its client skips both (a step less per run);
    a server the user chose (PREFECT_API_URL) keeps Prefect's defaults, and a value the user set stands."""
    env, _ = shared
    local = _client_settings(env)
    assert local["url"] == _info(Path(env["LITGRADE_DATA"]))["url"]
    assert local["PREFECT_CLIENT_CSRF_SUPPORT_ENABLED"] == "false"
    assert str(local["PREFECT_API_SSL_CERT_FILE"]).startswith(env["LITGRADE_DATA"])
    theirs = _client_settings({**env, "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "true"})
    assert theirs["PREFECT_CLIENT_CSRF_SUPPORT_ENABLED"] == "true"
    external = {**env, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    assert _client_settings(external) == {
        "url": "http://127.0.0.1:9/api", "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": None,
        "PREFECT_API_SSL_CERT_FILE": None,
    }


def test_a_dead_server_is_replaced(tmp_path: Path) -> None:
    env = child_env(tmp_path)
    first = litgrade(env, "server", "start")
    assert first.returncode == 0, first.stderr
    old = _info(tmp_path)
    try:
        os.killpg(int(str(old["pid"])), signal.SIGKILL)  # keeper and server die; server.json stays
        time.sleep(0.5)
        status = litgrade(env, "server", "status", timeout=60)
        assert "no local Prefect server running (a stale record was left)" in status.stdout
        second = litgrade(env, "server", "start")
        assert second.returncode == 0, second.stderr
        new = _info(tmp_path)
        assert new["pid"] != old["pid"]
        assert f"running at {new['url']}" in second.stdout
    finally:
        _stop(env)
    assert litgrade(env, "server", "status", timeout=60).stdout.startswith("no local Prefect server")


def test_a_corrupted_prefect_database_is_set_aside_and_recreated(tmp_path: Path) -> None:
    env = child_env(tmp_path)
    home = tmp_path / "prefect"
    home.mkdir()
    (home / "prefect.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)  # a torn header
    try:
        started = litgrade(env, "server", "start")
        assert started.returncode == 0, started.stderr
        said = [ln for ln in started.stderr.splitlines() if ln.strip()]
        assert len(said) == 1 and "could not be opened" in said[0] and "set aside as prefect.db.broken-" in said[0]
        assert "Traceback" not in started.stderr
        assert list(home.glob("prefect.db.broken-*"))
    finally:
        _stop(env)


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_full_disk_during_a_run_then_a_normal_run_succeeds(tmp_path: Path) -> None:
    """RLIMIT_FSIZE (inherited by the server it starts) makes every file write past 64 KB fail, as a
    full disk would, so Prefect's migrations stop half-way; the next run, with room again, works."""
    corpus = Corpus()
    corpus.add_synthetic_query("full[tiab]", 3, first_pmid=71_000_000)
    project = write_project(tmp_path, ["full[tiab]"])
    with start_standin(corpus, rate_limit=False) as standin:
        env = child_env(tmp_path, LITGRADE_EUTILS_URL=standin.base_url)
        try:
            full = litgrade(env, "refresh", str(project), preexec=_limit_file_size)
            assert full.returncode != 0
            assert "Traceback" not in full.stderr and len(full.stderr.strip().splitlines()) <= 3, full.stderr
            assert (tmp_path / "prefect" / "prefect.db").exists()  # left half-written
            normal = litgrade(env, "refresh", str(project))
            assert normal.returncode == 0, normal.stderr
            assert "refreshed 1 claim(s) of proj: 3 new hit(s), 3 record(s) fetched" in normal.stdout
            assert "Traceback" not in normal.stderr
        finally:
            _stop(env)
