"""Every `litgrade` command documents itself with an example, and README names every top-level command."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import typer.main

from flows.cli import app
from tests.conftest import REPO_ROOT


def commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full name, command) for every leaf command (typer vendors its own click classes)."""
    if hasattr(group, "commands"):
        for name, command in sorted(group.commands.items()):
            yield from commands(command, f"{prefix} {name}".strip())
    else:
        yield prefix, group


def test_every_command_has_help_with_an_example() -> None:
    found = dict(commands(typer.main.get_command(app)))
    assert {"refresh", "report", "status", "grade", "demo", "serve", "schedule"} <= set(found)
    missing = [name for name, command in found.items() if "Example" not in (command.help or "")]
    assert not missing, f"commands whose --help has no example: {missing}"


def test_readme_names_every_top_level_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    top: Any = typer.main.get_command(app)
    undocumented = [name for name in top.commands if f"litgrade {name}" not in readme]
    assert not undocumented, f"README does not mention: {undocumented}"


# -- every example runs ------------------------------------------------------------------------
# Each --help example is run as a user types it: in bash, in a folder holding curated/ (as a clone
# does), with no LITGRADE_* variable except LITGRADE_EUTILS_URL, which points the NCBI examples at the
# local E-utilities stand-in serving the K2 snapshot. `litgrade demo` (its own example) runs first and
# leaves the store every later example reads; `curator add` (its example) declares the alice the
# grading examples use. Files the examples name (baseline files, an EFetch answer) are made from the
# snapshot and ../shared/ncbi-samples. Two examples never end by themselves: `serve` must answer HTTP
# and `schedule` must start serving (against a real Prefect server); both are then stopped.
FIRST = ("demo", "curator add", "grades set")
LAST = ("grades import", "mirror ingest", "update", "serve", "schedule")
STDIN = {"grade": "q", "curator passwd": "a long passphrase\na long passphrase\n"}
LONG_RUNNING = {"serve": "serving k2-muscle on http://", "schedule": "is being served"}


def examples(help_text: str) -> list[str]:
    """The commands of an 'Example:' paragraph (continuation lines joined) or an 'Examples:' block."""
    out: list[str] = []
    paragraphs = [" ".join(p.split()) for p in help_text.split("\n\n")]
    for index, paragraph in enumerate(paragraphs):
        if paragraph.startswith("Example: "):
            out.append(paragraph.removeprefix("Example: "))
        elif paragraph == "Examples:":
            out += [p for p in paragraphs[index + 1 :] if "litgrade " in p.split("|")[0]]
    return [e.replace("\\[", "[") for e in out]


def ordered_examples() -> list[tuple[str, str]]:
    found = [(name, example) for name, command in commands(typer.main.get_command(app))
             for example in examples(command.help or "")]  # fmt: skip

    def rank(item: tuple[str, str]) -> tuple[int, int, str]:
        name = item[0]
        if name in FIRST:
            return (0, FIRST.index(name), name)
        if name in LAST:
            return (2, LAST.index(name), name)
        return (1, 0, name)

    return sorted(found, key=rank)


def test_examples_are_found_and_name_real_claims() -> None:
    from flows.project.claims import load_project

    found = ordered_examples()
    assert {name for name, _ in found} == {name for name, _ in commands(typer.main.get_command(app))}
    claim_ids = {c.id for c in load_project("k2-muscle").claims}
    for name, example in found:
        for claim in re.findall(r"--claim (\S+)", example) + re.findall(r"grades \w+ k2-muscle (\S+) \d+", example):
            assert claim in claim_ids, f"`{name}` --help example names a claim the showcase lacks: {claim}"


def _workspace(tmp_path: Path) -> Path:
    """A folder like a fresh clone: curated/ (copied: examples write grades), files examples name."""
    import gzip

    from tests.conftest import SHARED_DIR

    work = tmp_path / "clone"
    shutil.copytree(REPO_ROOT / "curated", work / "curated")
    snapshot = work / "curated" / "k2-muscle" / "snapshot" / "k2-snapshot.xml"
    samples = sorted((SHARED_DIR / "ncbi-samples").glob("metapub_efetch_*.xml"))
    (work / "pubmed26n0001.xml.gz").write_bytes(gzip.compress(snapshot.read_bytes()))
    (work / "pubmed26n0002.xml.gz").write_bytes(gzip.compress(samples[0].read_bytes()))
    (work / "updates").mkdir()
    for sample in samples[1:3]:
        (work / "updates" / f"{sample.stem}.xml.gz").write_bytes(gzip.compress(sample.read_bytes()))
    shutil.copy(samples[0], work / "efetch-29768149.xml")
    return work


def _standin_corpus(work: Path) -> Any:
    """The K2 snapshot, each claim's query answering the PMIDs the demo's mirror found for it."""
    from flows.project.claims import load_project
    from flows.sources.mirror.source import MirrorSource
    from flows.store.mirror import MirrorIndex
    from tests.standin import load_corpus

    corpus = load_corpus([work / "curated" / "k2-muscle" / "snapshot" / "k2-snapshot.xml"])
    mirror = MirrorSource(MirrorIndex(work / ".data" / "mirror.duckdb"))
    for claim in load_project(work / "curated" / "k2-muscle").claims:
        corpus.add_query(claim.query, list(mirror.search(claim.query).pmids))
    return corpus


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITGRADE_", "PREFECT_", "NCBI_"))}
    env.update(HOME=str(tmp_path / "home"), PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}", **extra)
    env["LITGRADE_SERVER_IDLE_MINUTES"] = "1"  # a local Prefect server an example starts must not linger
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def _run_until(example: str, work: Path, env: dict[str, str], ready: str, check: Any = None) -> str:
    """Start a command that serves until stopped; wait for `ready` on its output, check, stop it."""
    proc = subprocess.Popen(["bash", "-c", f"exec {example}"], cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    seen = ""
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while ready not in seen:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen += line
            assert time.monotonic() < deadline, seen
        assert ready in seen, f"`{example}` never said {ready!r}:\n{seen}"
        if check is not None:
            check()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    return seen


@pytest.mark.slow
@pytest.mark.timeout(900)  # some 24 commands, two of them Prefect flows, on a shared machine
def test_every_help_example_runs_against_the_demo_store(tmp_path: Path) -> None:
    import httpx

    from tests.living_fixtures import free_port, running_prefect_server
    from tests.standin import start_standin

    work = _workspace(tmp_path)
    found = ordered_examples()
    assert found[0] == ("demo", "litgrade demo")
    ran: list[str] = []
    timings: dict[str, float] = {}
    with ExitStack() as stack:
        standin = None
        for name, example in found:
            env = _env(tmp_path)
            if standin is not None:
                env["LITGRADE_EUTILS_URL"] = standin.base_url
            started = time.monotonic()
            print(f"running the example of {name}: {example}", flush=True)
            if name == "serve":
                port = free_port()
                command = example.replace("--port 8000", f"--port {port}")

                def answers(port: int = port) -> None:
                    page = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True, timeout=10)
                    assert page.status_code == 200 and "Sign in" in page.text

                _run_until(command, work, env, LONG_RUNNING[name], answers)
            elif name == "schedule":
                server = stack.enter_context(running_prefect_server(tmp_path / "prefect-server"))
                _run_until(example, work, {**env, "PREFECT_API_URL": server}, LONG_RUNNING[name])
            else:
                done = subprocess.run(["bash", "-o", "pipefail", "-c", example], cwd=work, env=env,
                                      input=STDIN.get(name, ""), capture_output=True, text=True,
                                      timeout=300)  # fmt: skip
                said = done.stdout[-3000:] + done.stderr[-3000:]
                assert done.returncode == 0, f"`{example}` (the --help example of {name}) failed:\n{said}"
                assert "Traceback" not in said, said
            timings[example] = time.monotonic() - started
            ran.append(name)
            if name == "demo":
                standin = stack.enter_context(start_standin(_standin_corpus(work)))
    assert set(ran) >= {name for name, _ in commands(typer.main.get_command(app))}
    sheet = (work / "sheet.csv").read_text(encoding="utf-8")
    assert sheet.startswith("project,") or "pmid" in sheet.splitlines()[0]
    print("example timings (s):", {k[:60]: round(v, 1) for k, v in timings.items()})
