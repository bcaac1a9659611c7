"""Searches started before the flow run (flows/pipeline/early.py): the flow takes the one that matches
its plan exactly, asks PubMed itself otherwise, and a refresh from the shell still sends one search per
claim."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from flows import config
from flows.pipeline import early
from flows.pipeline.plan import SearchWindow
from flows.pipeline.refresh import refresh_flow, start_searches_early
from flows.project.claims import load_project
from tests.cli_helpers import run_cli
from tests.db_helpers import rows
from tests.standin import load_corpus, start_standin

ERRATA = ["38833988", "35649368", "38147649"]
CLAIMS = """\
article:
  title: "A test article"
claims:
  - id: errata
    text: "Errata are published"
    query: 'erratum[pt]'
"""
FIRST = dt.datetime(2026, 11, 24, 6)
SECOND = dt.datetime(2026, 12, 1, 6)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "early"
    folder.mkdir()
    (folder / "claims.yaml").write_text(CLAIMS, encoding="utf-8")
    return folder


@pytest.fixture()
def standin(samples_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    corpus = load_corpus(sorted(samples_dir.glob("metapub_efetch_*.xml")))
    corpus.add_query("erratum[pt]", ERRATA, translation='"erratum"[Publication Type]')
    with start_standin(corpus, today=dt.date(2026, 12, 1)) as server:
        monkeypatch.setenv("LITGRADE_EUTILS_URL", server.base_url)
        yield server
    early.forget()


def _searches(standin) -> list[tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    return [(e.params.get("mindate"), e.params.get("maxdate")) for e in standin.entries(tool="esearch", status=200)]


def _wait_for_searches(standin, count: int) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 20
    while len(_searches(standin)) < count:
        assert time.monotonic() < deadline, "the early search never reached the stand-in"
        time.sleep(0.02)


@pytest.mark.slow
def test_the_flow_takes_the_search_started_before_it_and_sends_none_itself(
    project: Path, standin, tmp_db: Path, prefect_harness: None  # type: ignore[no-untyped-def]
) -> None:
    spec = config.source_spec("eutils")
    proj = load_project(str(project))
    refresh_flow(project=str(project), source=spec, db_path=tmp_db, run_time=FIRST)
    standin.clear_log()

    start_searches_early(proj.name, list(proj.claims), spec, tmp_db, SECOND)
    _wait_for_searches(standin, 1)  # answered before the flow run exists
    summary = refresh_flow(project=str(project), source=spec, db_path=tmp_db, run_time=SECOND)

    assert _searches(standin) == [("2026/11/17", "2026/12/02")]  # the early one, and no other
    assert summary.stats["requests"] == 1  # the run counts the request it took as its own
    [claim] = summary.claims
    assert (claim.status, claim.found, len(claim.new_hits)) == ("completed", 0, 0)
    assert not early.any_started()


@pytest.mark.slow
def test_a_search_started_for_another_window_is_not_taken(
    project: Path, standin, tmp_db: Path, prefect_harness: None  # type: ignore[no-untyped-def]
) -> None:
    spec = config.source_spec("eutils")
    proj = load_project(str(project))
    refresh_flow(project=str(project), source=spec, db_path=tmp_db, run_time=FIRST)
    standin.clear_log()

    start_searches_early(proj.name, list(proj.claims), spec, tmp_db, SECOND + dt.timedelta(days=3))
    _wait_for_searches(standin, 1)
    summary = refresh_flow(project=str(project), source=spec, db_path=tmp_db, run_time=SECOND)

    # The stale window's answer is dropped; the flow asked for its own window.
    assert _searches(standin) == [("2026/11/17", "2026/12/05"), ("2026/11/17", "2026/12/02")]
    assert rows(tmp_db, "SELECT maxdate FROM search_runs ORDER BY started_at DESC LIMIT 1") == [("2026/12/02",)]
    assert summary.claims[0].status == "completed"
    early.forget()
    assert not early.any_started()


def test_a_started_search_is_taken_once_and_only_for_its_exact_key() -> None:
    spec = "a spec"  # the registry only hashes it
    window = SearchWindow("2026/11/17", "2026/12/02")

    class Answer:
        def search(self, query: str, *, mindate: str | None, maxdate: str | None) -> str:
            return f"{query} {mindate}-{maxdate}"

    early.start(spec, Answer(), [("q", window)], workers=2)  # type: ignore[arg-type]
    assert early.take(spec, "q", SearchWindow("2026/11/17", "2026/12/03")) is None  # type: ignore[arg-type]
    assert early.take(spec, "other", window) is None  # type: ignore[arg-type]
    started = early.take(spec, "q", window)  # type: ignore[arg-type]
    assert started is not None and started.result() == "q 2026/11/17-2026/12/02"
    assert early.take(spec, "q", window) is None  # type: ignore[arg-type]


def test_a_refresh_from_the_command_line_sends_one_search_per_unchanged_claim(
    project: Path, standin, tmp_db: Path, prefect_harness: None, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    assert run_cli(capsys, "refresh", str(project), "--run-time", FIRST.isoformat()).code == 0
    standin.clear_log()
    second = run_cli(capsys, "refresh", str(project), "--run-time", SECOND.isoformat())
    assert second.code == 0, second.err
    assert "errata: 0 found (incremental), 0 new" in second.err
    assert _searches(standin) == [("2026/11/17", "2026/12/02")]
    assert not early.any_started()  # the command forgets what it started
