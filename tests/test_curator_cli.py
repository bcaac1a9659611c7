"""`litgrade curator add` declares a curator keeping curators.yaml's comments; `curator passwd` checks first."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from flows.project.curators import add_curator, load_curators
from tests.cli_helpers import run_cli
from tests.conftest import REPO_ROOT

LITGRADE = Path(sys.executable).parent / "litgrade"
K2 = REPO_ROOT / "curated" / "k2-muscle"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "k2-muscle"
    folder.mkdir()
    for name in ("claims.yaml", "curators.yaml"):
        shutil.copy(K2 / name, folder / name)
    return folder


def test_add_keeps_comments_and_existing_entries(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (project / "curators.yaml").read_text(encoding="utf-8")
    result = run_cli(capsys, "curator", "add", str(project), "alice", "--name", "Alice  Example")
    assert result.code == 0, result.err
    assert "alice (Alice Example) added to" in result.out and "litgrade curator passwd alice" in result.out
    after = (project / "curators.yaml").read_text(encoding="utf-8")
    assert after.startswith(before)  # comments, order and quoting untouched; the new entry appended
    assert after[len(before):] == "  - id: alice\n    name: Alice Example\n    role: curator\n"
    curators = load_curators(project)
    assert curators["alice"].role == "curator" and curators["k2-team"].name == "litgrade K2 curation team"

    result = run_cli(capsys, "curator", "add", str(project), "carol", "--name", "Carol", "--role", "adjudicator")
    assert result.code == 0 and load_curators(project)["carol"].is_adjudicator


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alice\n", "--name", "A"], "is not a safe slug"),
        (["../x", "--name", "A"], "is not a safe slug"),
        (["Alice", "--name", "A"], "is not a safe slug"),
        (["alice", "--name", " \t\x07 "], "--name is empty"),
        (["alice", "--name", "A", "--role", "boss"], "role 'boss' is not one of: curator, adjudicator"),
        (["k2-team", "--name", "Again"], "curator 'k2-team' is already declared (as curator); nothing changed"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = (project / "curators.yaml").read_bytes()
    result = run_cli(capsys, "curator", "add", str(project), *args)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert (project / "curators.yaml").read_bytes() == before


def test_library_function_validates_the_whole_file(project: Path) -> None:
    added = add_curator(project, "dan", "Dan Example", "curator")
    assert added.id == "dan" and "dan" in load_curators(project)


def test_passwd_refuses_an_undeclared_curator_before_asking(project: Path, tmp_path: Path) -> None:
    env = {**os.environ, "LITGRADE_DATA": str(tmp_path / "data")}
    child = pexpect.spawn(
        str(LITGRADE), ["curator", "passwd", "alice", "--project", str(project)],
        env=env, encoding="utf-8", timeout=20,
    )  # fmt: skip
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert "no curator 'alice'" in child.before and "litgrade curator add" in child.before
    assert "password" not in child.before.lower().split("no curator")[0]  # never prompted

    add_curator(project, "alice", "Alice Example", "curator")
    child = pexpect.spawn(
        str(LITGRADE), ["curator", "passwd", "alice", "--project", str(project)],
        env=env, encoding="utf-8", timeout=20,
    )  # fmt: skip
    child.expect("New password")
    child.sendline("correct horse battery")
    child.expect("Repeat for confirmation")
    child.sendline("correct horse battery")
    child.expect("password set for alice")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
