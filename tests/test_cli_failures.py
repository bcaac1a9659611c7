"""How `litgrade` fails, as real processes: configuration refused before Prefect (and fast), commands that
need no flow import no Prefect, one line per failed claim (never a traceback), exit codes, control
characters stripped, SIGTERM / Ctrl-C stopping within 5 s with the open runs marked interrupted."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from tests.process_helpers import LITGRADE, REPO, child_env, litgrade, write_project
from tests.standin import Corpus, Latency, start_standin

PROBE = (
    "import sys\n"
    "from flows.cli import main\n"
    "code = 0\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
    "loaded = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
    "print('PREFECT-MODULES', len(loaded), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One data folder (and so one local Prefect server) for the module's refreshes."""
    folder = tmp_path_factory.mktemp("cli-data")
    try:
        yield folder
    finally:
        litgrade(child_env(folder), "server", "stop", timeout=60)


def _probe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args", [["--help"], ["status", "{project}"], ["report", "{project}", "--out", "{out}"]])
def test_commands_that_need_no_flow_import_no_prefect(tmp_path: Path, args: list[str]) -> None:
    project = write_project(tmp_path, ["x[tiab]"])
    env = child_env(tmp_path)
    argv = [a.format(project=project, out=tmp_path / "reports") for a in args]
    if args[0] == "report":
        first = _probe(env, *argv)
        assert first.returncode == 0, first.stderr
    answer = _probe(env, *argv)
    assert answer.returncode == 0, answer.stderr
    assert "PREFECT-MODULES 0" in answer.stderr, answer.stderr


@pytest.mark.parametrize(
    ("extra", "args", "expected"),
    [
        ({"NCBI_EMAIL": "", "LITGRADE_EUTILS_URL": ""}, ["refresh"], "litgrade: NCBI_EMAIL is not set"),
        ({}, ["refresh", "--source", "mirror"], "litgrade: no mirror at"),
        ({}, ["update", "--source", "mirror"], "litgrade: no mirror at"),
        ({"LITGRADE_DB": "/proc/litgrade/store.duckdb"}, ["refresh"], "litgrade: cannot create the store's folder"),
    ],
)
def test_configuration_errors_answer_in_one_line_before_prefect(
    tmp_path: Path, extra: dict[str, str], args: list[str], expected: str
) -> None:
    project = write_project(tmp_path, ["x[tiab]"])
    env = child_env(tmp_path, **extra)
    env = {k: v for k, v in env.items() if v != ""}
    walls = []
    for _ in range(3):  # the best of three: the machine is shared
        started = time.monotonic()
        answer = _probe(env, args[0], str(project), *args[1:])
        walls.append(time.monotonic() - started)
        assert answer.returncode == 2
        lines = answer.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith(expected), answer.stderr
        assert lines[1] == "PREFECT-MODULES 0"
    assert min(walls) < 2.0, walls
    assert not (tmp_path / "prefect-server").exists()  # no server was started


class _Refusing(BaseHTTPRequestHandler):
    """Answers every request with HTTP 400 and a body full of terminal escape codes."""

    def do_GET(self) -> None:
        body = b"\x1b]0;owned\x07\x1b[2J\x1b[31mbad request\x1b[0m"
        self.send_response(400)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_failed_claims_are_one_line_each_with_control_characters_stripped(data: Path, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        project = write_project(tmp_path, [f"q{i}[tiab]" for i in range(20)])
        url = f"http://127.0.0.1:{server.server_address[1]}/entrez/eutils/"
        env = child_env(data, LITGRADE_DB=str(tmp_path / "store.duckdb"), LITGRADE_EUTILS_URL=url)
        answer = litgrade(env, "refresh", str(project))
    finally:
        server.shutdown()
    output = answer.stdout + answer.stderr
    assert answer.returncode == 1, output
    assert "Traceback" not in output and "\x1b" not in output and "\x07" not in output
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) <= 23, output  # a line per claim and the summary
    assert sum("claim-" in ln and "failed" in ln for ln in answer.stderr.splitlines()) >= 20
    assert "HTTP 400 (bad request)" in output  # the server's words, its escape sequences removed whole
    assert (data / "prefect-server" / "prefect.log").exists()  # where Prefect's own lines went


def test_ncbi_unreachable_for_20_claims_is_about_20_lines(data: Path, tmp_path: Path) -> None:
    project = write_project(tmp_path, [f"q{i}[tiab]" for i in range(20)])
    env = child_env(data, LITGRADE_DB=str(tmp_path / "store.duckdb"),
                    LITGRADE_EUTILS_URL="http://127.0.0.1:9/entrez/eutils/")
    answer = litgrade(env, "refresh", str(project), timeout=600)
    output = answer.stdout + answer.stderr
    assert answer.returncode == 1, output
    assert "Traceback" not in output
    assert len([ln for ln in output.splitlines() if ln.strip()]) <= 23, output
    assert "20 of 20 claims failed" in answer.stderr


def _run_statuses(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT status FROM search_runs ORDER BY run_id").fetchall()]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_refresh_within_5_s_and_marks_its_runs_interrupted(
    data: Path, tmp_path: Path, signum: int
) -> None:
    corpus = Corpus()
    for i in range(2):
        corpus.add_synthetic_query(f"slow{i}[tiab]", 3, first_pmid=72_000_000 + i * 10)
    project = write_project(tmp_path, ["slow0[tiab]", "slow1[tiab]"])
    db = tmp_path / "store.duckdb"
    with start_standin(corpus, rate_limit=False, latency=Latency(15.0), today=dt.date(2026, 12, 1)) as standin:
        env = child_env(data, LITGRADE_DB=str(db), LITGRADE_EUTILS_URL=standin.base_url)
        proc = subprocess.Popen([LITGRADE, "refresh", str(project)], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while not standin.entries() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # until the searches are in flight (the stand-in takes 15 s to answer)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    assert took < 5.0, (took, err)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "2 open search run(s) marked interrupted" in err, err
    assert _run_statuses(db) == ["interrupted", "interrupted"]
    status = litgrade(env, "status", str(project), timeout=60)
    assert status.stdout.count("] interrupted") == 2, status.stdout
    assert "running" not in status.stdout


def test_whole_escape_sequences_are_removed_not_just_their_esc_byte() -> None:
    from flows.cli.pipeline import printable

    hostile = "HTTP 400 (\x1b]0;owned\x07\x1b[2J\x1b[31mbad\x1b[0m \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x1bc\x1b(Bok\x00\x07)"
    assert printable(hostile) == "HTTP 400 (bad link ok)"
