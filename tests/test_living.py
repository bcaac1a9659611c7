"""Living evidence against the E-utilities stand-in and ONE real local Prefect server: a schedule that
fires, retractions of graded studies, failing claims, the project lock and the cross-process NCBI pace.

Every `litgrade` here is a child process (as ops run it) with PREFECT_API_URL set to the test server."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.db_helpers import rows
from tests.living_fixtures import (
    ERRATA,
    FIRST_RUN,
    GRADED,
    NEW_STUDY,
    REPO,
    REVIEWS,
    SECOND_RUN,
    TRIALS,
    LivingEnv,
    RunSeen,
    living_env,
    living_runs,
    prefect_server,
    retracted_xml,
    standin,
)
from tests.standin import StandIn, split_efetch

__all__ = ["prefect_server", "standin"]  # fixtures, re-exported for pytest

NOTHING_NEW = "Nothing new: no new studies, retractions, rating changes or failures."



def stored(env: LivingEnv) -> set[str]:
    return {str(p) for (p,) in rows(env.db, "SELECT pmid FROM articles")}


def add_new_study(standin: StandIn, samples_dir: Path) -> str:
    pmid, xml, _ = split_efetch(samples_dir / f"metapub_efetch_{NEW_STUDY}.xml")[0]
    standin.corpus.add_record(pmid, xml, dt.date(2026, 11, 28))
    standin.corpus.queries["erratum[pt]"].pmids.insert(0, pmid)
    return pmid


@pytest.mark.slow
def test_second_run_says_one_new_study_and_one_retraction_then_nothing_new(
    tmp_path: Path, standin: StandIn, prefect_server: str, samples_dir: Path
) -> None:
    env = living_env(tmp_path, standin, prefect_server, graded={GRADED: "reviews"})
    first = env.update(FIRST_RUN)
    assert first.returncode == 0, first.stderr
    assert stored(env) == {*ERRATA, *REVIEWS, *TRIALS}
    assert "- **reviews**: none → supports/very_low" in env.digest("2026-11-24").splitlines()

    add_new_study(standin, samples_dir)
    standin.corpus.records[GRADED] = retracted_xml(standin.corpus.records[GRADED], "40000001")
    second = env.update(SECOND_RUN)
    assert second.returncode == 0, second.stderr
    assert env.digest("2026-12-01").splitlines() == [
        "# living — evidence digest 2026-12-01",
        "",
        "Run 2026-12-01T06:00:00 · source: eutils",
        "",
        "## Needs re-review",
        "",
        f"- **reviews**: PMID {GRADED} SAFETY OF LONG-TERM PROTON PUMP INHIBITORS: FACTS AND MYTHS. — "
        "retracted per PubMed (retraction notice PMID 40000001); PubMed publication types +Retracted "
        "Publication — "
        "was included: dropped from the rating until re-reviewed",
        "",
        "## Rating changes",
        "",
        "- **reviews**: supports/very_low → insufficient",
        "",
        "## New studies (1)",
        "",
        "- **errata** (1)",
        f"  - PMID {NEW_STUDY}: Remdesivir Resistance in Transplant Recipients With Persistent Coronavirus "
        "Disease 2019.",
    ]
    assert rows(env.db, "SELECT project, claim_id, pmid, kinds, included FROM review_flags") == [
        ("living", "reviews", GRADED, ["retracted"], True)
    ]
    import json

    reviews = json.loads((env.reports / "reviews.json").read_text(encoding="utf-8"))
    assert reviews["rating"]["id"] == "insufficient"
    assert GRADED in json.dumps(reviews)  # still listed (flagged), not counted
    scorecard = json.loads((env.reports / "index.json").read_text(encoding="utf-8"))
    assert {c["id"]: c["included"] for c in scorecard["claims"]}["reviews"] >= 1
    assert [r.state for r in living_runs(prefect_server, env.project)] == ["COMPLETED", "COMPLETED"]

    third = env.update("2026-12-01T18:00:00")
    assert third.returncode == 0, third.stderr
    assert env.digest("2026-12-01-2").splitlines() == [
        "# living — evidence digest 2026-12-01",
        "",
        "Run 2026-12-01T18:00:00 · source: eutils",
        "",
        NOTHING_NEW,
    ]


@pytest.mark.slow
def test_failing_claim_fails_the_run_others_complete_next_run_retries(
    tmp_path: Path, standin: StandIn, prefect_server: str
) -> None:
    env = living_env(tmp_path, standin, prefect_server)
    standin.add_fault("error", times=1, tools=("esearch",))  # NCBI's top-level ERROR, status 200
    first = env.update(FIRST_RUN)
    assert first.returncode == 1, first.stderr
    assert "1 of 3 claims failed" in first.stderr and "Search Backend failed" in first.stderr
    digest = env.digest("2026-11-24").splitlines()
    failed_lines = [line for line in digest if line.startswith("- **") and "Search Backend failed" in line]
    assert len(failed_lines) == 1
    failed = failed_lines[0].split("**")[1]
    hits = {"errata": set(ERRATA), "reviews": set(REVIEWS), "trials": set(TRIALS)}
    assert "## Failed claims (retried on the next run)" in digest
    assert stored(env) == set().union(*(v for k, v in hits.items() if k != failed))
    assert (env.reports / "index.json").is_file() and (env.reports / f"{failed}.json").is_file()
    assert [r.state for r in living_runs(prefect_server, env.project)] == ["FAILED"]

    second = env.update(SECOND_RUN)
    assert second.returncode == 0, second.stderr
    assert stored(env) == {*ERRATA, *REVIEWS, *TRIALS}
    retried = rows(
        env.db, f"SELECT status, incremental FROM search_runs WHERE claim_id = '{failed}' ORDER BY run_id"
    )
    assert retried == [("failed", False), ("completed", False)]  # the retry searched the full window
    assert f"- **{failed}** ({len(hits[failed])})" in env.digest("2026-12-01").splitlines()
    assert [r.state for r in living_runs(prefect_server, env.project)] == ["FAILED", "COMPLETED"]


HOLD_LOCK = """
import sys, time
from flows.pipeline.lock import project_lock
with project_lock("living"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_overlapping_run_is_refused(tmp_path: Path, standin: StandIn) -> None:
    """Refused before Prefect starts (no server needed): nothing stored, reported or asked of NCBI."""
    env = living_env(tmp_path, standin, None)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK], env=env.env, cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = env.update(FIRST_RUN)
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 75
    assert f"another refresh of 'living' is running (pid {holder.pid} since" in refused.stderr
    assert "wait for it to finish" in refused.stderr and "Traceback" not in refused.stderr
    assert not env.db.exists() and not env.reports.exists()
    assert not standin.entries()
    assert not list((env.data / "prefect").glob("*.db"))  # no ephemeral Prefect API was started


@pytest.mark.slow
def test_schedule_fires_and_writes_the_digest(
    tmp_path: Path, standin: StandIn, prefect_server: str
) -> None:
    env = living_env(tmp_path, standin, prefect_server)
    served = env.popen(
        "schedule", str(env.project), "--interval", "5", "--source", "eutils", "--out", str(env.reports),
        "--name", f"living-test-{os.getpid()}",
    )
    try:
        deadline = time.monotonic() + 90
        done: list[RunSeen] = []
        while time.monotonic() < deadline and served.poll() is None:
            done = [r for r in living_runs(prefect_server, env.project) if r.state == "COMPLETED"]
            if done and any((env.reports / "digest").glob("*.md")):
                break
            time.sleep(0.5)
    finally:
        os.killpg(served.pid, signal.SIGTERM)
        try:
            output, _ = served.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(served.pid, signal.SIGKILL)
            output, _ = served.communicate()
    assert done, output[-3000:]
    assert all(r.deployment_id for r in done)  # runs of the served deployment, not ad-hoc ones
    digests = sorted((env.reports / "digest").glob("*.md"))
    assert digests and "## New studies (6)" in digests[0].read_text(encoding="utf-8")
    assert stored(env) == {*ERRATA, *REVIEWS, *TRIALS}


def pace_project(root: Path, name: str, claims: int) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    lines = ["article:", f'  title: "Pace {name}"', "claims:"]
    for i in range(claims):
        lines += [f"  - id: c{i}", f'    text: "Claim {i}"', f"    query: '{name} {i}[tiab]'"]
    (folder / "claims.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def refresh_two_at_once(tmp_path: Path, env: LivingEnv, extra: dict[str, str]) -> list[str]:
    procs = []
    for name in ("pace-a", "pace-b"):
        folder = pace_project(tmp_path, name, claims=15)  # each alone outlasts start-up skew
        procs.append(
            env.popen(
                "refresh", str(folder), "--source", "eutils", "--run-time", FIRST_RUN,
                extra={**extra, "LITGRADE_DB": str(tmp_path / f"{name}.duckdb")},
            )
        )
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(o[-3000:] for o in outputs)
    return outputs


@pytest.mark.slow
def test_two_processes_share_one_ncbi_pace_through_the_server(
    tmp_path: Path, standin: StandIn, prefect_server: str
) -> None:
    env = living_env(tmp_path, standin, prefect_server)
    refresh_two_at_once(tmp_path, env, {})
    # Both ran at once; the server may hand the slot to one of them for a while (it backs off the
    # process it refuses), so their requests need not interleave — only the pace matters here.
    assert len(standin.entries(tool="esearch")) == 30
    assert not standin.entries(status=429)
    assert standin.max_in_window(1.0) <= 3

    # The counter-case is real: each process alone keeps its own pace, together they break NCBI's.
    standin.clear_log()
    searchers_without_global_pace(tmp_path, env, searches=9)
    assert standin.max_in_window(1.0) > 3


# Two processes, each pacing itself only (no server): both start searching at the same instant
# (a go-file), so the counter-case does not depend on how long each one takes to start.
SEARCHER = """
import os, sys, time
from pathlib import Path
from flows.config import eutils_settings
from flows.sources.eutils.client import EutilsClient
from flows.sources.eutils.ratelimit import shared_limiter
settings = eutils_settings()
client = EutilsClient(settings, limiter=shared_limiter(settings.max_requests_per_second))
print("ready", flush=True)
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.01)
for i in range(int(sys.argv[2])):
    client.search(f"{sys.argv[3]} {i}[tiab]")
"""


def searchers_without_global_pace(tmp_path: Path, env: LivingEnv, searches: int) -> None:
    go = tmp_path / "go"
    environment = {**env.env, "LITGRADE_GLOBAL_PACE": "off"}
    environment.pop("PREFECT_API_URL", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SEARCHER, str(go), str(searches), name],
            env=environment, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for name in ("solo-a", "solo-b")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(outputs)


@pytest.mark.slow
def test_prefect_yaml_deploys_to_a_work_pool(tmp_path: Path, prefect_server: str) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_HOME": str(tmp_path / "cli"),
           "LITGRADE_HOME": str(REPO)}
    prefect = str(Path(sys.executable).parent / "prefect")
    for args in (["work-pool", "create", "litgrade", "--type", "process"], ["--no-prompt", "deploy", "--all"]):
        done = subprocess.run([prefect, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(prefect_server) as client:
        deployment = client.read_deployment_by_name("living-refresh/living-k2-muscle")
    assert deployment.work_pool_name == "litgrade"
    assert deployment.entrypoint == "flows/pipeline/living.py:living_refresh"
    assert deployment.parameters == {"project": "k2-muscle", "source": "eutils"}
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 6 * * 1", "Europe/London")  # type: ignore[union-attr]
    assert deployment.global_concurrency_limit is not None
    assert deployment.global_concurrency_limit.limit == 1


@pytest.mark.slow
def test_dask_runner_refreshes_every_claim_on_worker_processes(
    tmp_path: Path, standin: StandIn, prefect_server: str
) -> None:
    env = living_env(tmp_path, standin, prefect_server)
    result = env.litgrade(
        "update", str(env.project), "--source", "eutils", "--run-time", FIRST_RUN,
        "--out", str(env.reports), "--runner", "dask", timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert stored(env) == {*ERRATA, *REVIEWS, *TRIALS}
    assert rows(env.db, "SELECT DISTINCT status FROM search_runs") == [("completed",)]
    assert not standin.entries(status=429)
    assert [r.state for r in living_runs(prefect_server, env.project)][-1:] == ["COMPLETED"]


def test_dask_runner_without_a_server_is_refused_clearly(tmp_path: Path, standin: StandIn) -> None:
    env = living_env(tmp_path, standin, None)
    result = env.litgrade("refresh", str(env.project), "--runner", "dask")
    assert result.returncode == 2
    assert "--runner dask needs a Prefect server" in result.stderr
    assert not env.db.exists()
