"""Living-evidence test set-up: ONE real Prefect server per session (`prefect server start` on
127.0.0.1), a project folder with claims, curators and grades, the E-utilities stand-in serving real
NCBI samples, and helpers to run `litgrade` as a child process pointed at all three."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.curation.journal import event_line
from tests.grading_fixtures import CURATORS_YAML, ev
from tests.standin import StandIn, load_corpus, start_standin

REPO = Path(__file__).resolve().parent.parent
LITGRADE = [str(Path(sys.executable).parent / "litgrade")]
ERRATA = ["38833988", "35649368", "38147649"]
REVIEWS = ["35830032", "33856845"]
TRIALS = ["34337106"]
GRADED = "35830032"  # the review graded as included, later retracted
NEW_STUDY = "36156117"  # appears between two runs
FIRST_RUN = "2026-11-24T06:00:00"
SECOND_RUN = "2026-12-01T06:00:00"

CLAIMS = """\
article:
  title: "A living test article"
  date_read: 2026-11-24
reviewers: 1
claims:
  - id: errata
    text: "Errata are published"
    query: 'erratum[pt]'
  - id: reviews
    text: "Reviews exist"
    query: 'review[pt]'
  - id: trials
    text: "Trials exist"
    query: 'trial[pt]'
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def running_prefect_server(home: Path, timeout: float = 90) -> Iterator[str]:
    """`prefect server start` on a free 127.0.0.1 port with PREFECT_HOME=`home`, no telemetry, no UI;
    yields the API URL once /api/health answers, stops the server (and its children) on exit."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{free_port()}/api"
    with (home / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
             "--port", url.rsplit(":", 1)[1].removesuffix("/api")],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (home / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"prefect server did not start: {tail}")
                time.sleep(0.3)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """ONE real Prefect server for every living test (starting one costs 5-20 s); yields the API URL."""
    home = Path(tempfile.mkdtemp(prefix="litgrade-prefect-server-"))
    try:
        with running_prefect_server(home) as url:
            yield url
    finally:
        shutil.rmtree(home, ignore_errors=True)


def base_corpus(samples_dir: Path):  # type: ignore[no-untyped-def]
    corpus = load_corpus(sorted(samples_dir.glob("metapub_efetch_*.xml")))
    corpus.add_query("erratum[pt]", ERRATA, translation='"erratum"[Publication Type]')
    corpus.add_query("review[pt]", REVIEWS, translation='"review"[Publication Type]')
    corpus.add_query("trial[pt]", TRIALS, translation='"clinical trial"[Publication Type]')
    return corpus


@pytest.fixture()
def standin(samples_dir: Path) -> Iterator[StandIn]:
    with start_standin(base_corpus(samples_dir), today=dt.date(2026, 12, 1)) as server:
        yield server


@dataclass
class LivingEnv:
    """Where one test's child processes read and write: project, store, data folder, reports."""

    project: Path
    db: Path
    data: Path
    reports: Path
    env: dict[str, str]

    def litgrade(self, *args: str, timeout: float = 120, extra: Mapping[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LITGRADE, *args], env={**self.env, **(extra or {})}, cwd=REPO, capture_output=True,
            text=True, timeout=timeout,
        )

    def popen(self, *args: str, extra: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*LITGRADE, *args], env={**self.env, **(extra or {})}, cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )

    def update(self, run_time: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.litgrade(
            "update", str(self.project), "--source", "eutils", "--run-time", run_time,
            "--out", str(self.reports), **kw,  # type: ignore[arg-type]
        )

    def digest(self, date: str) -> str:
        return (self.reports / "digest" / f"{date}.md").read_text(encoding="utf-8")


def write_living_project(root: Path, graded: Mapping[str, str] | None = None) -> Path:
    """claims.yaml + curators.yaml; `graded` maps PMID → claim graded as an included RCT by alice."""
    folder = root / "living"
    (folder / "grades").mkdir(parents=True, exist_ok=True)
    (folder / "claims.yaml").write_text(CLAIMS, encoding="utf-8")
    (folder / "curators.yaml").write_text(CURATORS_YAML, encoding="utf-8")
    if graded:
        lines = [event_line(ev("alice", pmid, claim=claim)) for pmid, claim in graded.items()]
        (folder / "grades" / "alice.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder


def living_env(tmp_path: Path, standin: StandIn, api_url: str | None,
               graded: Mapping[str, str] | None = None) -> LivingEnv:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    project = write_living_project(tmp_path, graded)
    env = {
        **os.environ,
        "LITGRADE_DATA": str(data),
        "LITGRADE_DB": str(tmp_path / "store.duckdb"),
        "LITGRADE_EUTILS_URL": standin.base_url,
        "NCBI_EMAIL": "tests@litgrade.invalid",
        "PREFECT_HOME": str(data / "prefect"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PYTHONPATH": str(REPO),
    }
    env.pop("NCBI_API_KEY", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    else:
        env.pop("PREFECT_API_URL", None)
    return LivingEnv(project, tmp_path / "store.duckdb", data, tmp_path / "reports", env)


def retracted_xml(xml: str, notice: str) -> str:
    """The same record after PubMed linked a retraction notice and added the publication type."""
    link = (
        f'<CommentsCorrections RefType="RetractionIn"><RefSource>J Test. 2026;1:1</RefSource>'
        f'<PMID Version="1">{notice}</PMID></CommentsCorrections>'
    )
    if "<CommentsCorrectionsList>" in xml:
        xml = xml.replace("<CommentsCorrectionsList>", "<CommentsCorrectionsList>" + link, 1)
    else:
        xml = xml.replace("</MedlineCitation>", f"<CommentsCorrectionsList>{link}</CommentsCorrectionsList>"
                          "</MedlineCitation>", 1)
    return xml.replace(
        "</PublicationTypeList>",
        '<PublicationType UI="D016441">Retracted Publication</PublicationType></PublicationTypeList>', 1,
    )


@dataclass(frozen=True)
class RunSeen:
    state: str  # COMPLETED, FAILED, ...
    deployment_id: str | None
    parameters: dict[str, object]


def living_runs(api_url: str, project: Path) -> list[RunSeen]:
    """The server's flow runs of `living-refresh` for this project folder (oldest first)."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with SyncPrefectClient(api_url) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["living-refresh"])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        )
    return [
        RunSeen(str(r.state.type.value) if r.state else "?", str(r.deployment_id) if r.deployment_id
                else None, dict(r.parameters))
        for r in runs
        if r.parameters.get("project") == str(project)
    ]
