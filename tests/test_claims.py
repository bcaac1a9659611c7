"""claims.yaml loading: valid projects load; every kind of bad file names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.errors import InputError
from flows.project.claims import load_project
from tests.cli_helpers import run_cli

GOOD = """\
project: demo
article:
  title: "What Does K2 Do for Muscles?"
  url: https://example.org/k2
  date_read: 2026-11-24
reviewers: 2
claims:
  - id: k2-cramps
    text: "K2 reduces nocturnal leg cramps"
    query: '"vitamin K 2"[mh] AND cramp*[tiab]'
    reviewers: 1
  - id: k2-mgp
    text: "K2 activates MGP"
    query: 'menaquinone*[tiab] AND "matrix gla protein"[tiab]'
"""


def write_project(tmp_path: Path, text: str, name: str = "demo") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "claims.yaml").write_text(text, encoding="utf-8")
    return folder


def test_valid_project_loads_with_defaults_and_overrides(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path, GOOD))
    assert project.name == "demo"
    assert project.article.date_read == "2026-11-24"
    assert [c.id for c in project.claims] == ["k2-cramps", "k2-mgp"]
    assert project.reviewers_for("k2-cramps") == 1
    assert project.reviewers_for("k2-mgp") == 2


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (GOOD.replace("id: k2-mgp", "id: k2-cramps"), "claims.yaml:12: field 'claims[1].id': duplicate claim id 'k2-cramps' (first used on line 8)"),
        (GOOD.replace("id: k2-mgp", "id: K2_MGP"), "claims.yaml:12: field 'claims[1].id': 'K2_MGP' is not a lowercase slug"),
        (GOOD.replace("""query: 'menaquinone*[tiab] AND "matrix gla protein"[tiab]'""", "query: '   '"), "claims.yaml:14: field 'claims[1].query': must not be empty"),
        (GOOD.replace("    reviewers: 1\n", "    reviewer: 1\n"), "claims.yaml:11: field 'claims[0].reviewer': Additional properties are not allowed"),
        (GOOD.replace("claims:\n", "claims: [\n", 1), "YAML syntax error"),
        (GOOD.replace("reviewers: 2\n", "reviewers: 2\nreviewers: 1\n"), "claims.yaml:7: field 'reviewers' is given twice"),
        (GOOD.replace("reviewers: 2\n", "reviewers: 3\n"), "claims.yaml:6: field 'reviewers'"),
        (GOOD.replace("project: demo", "project: other"), "does not match the folder name 'demo'"),
    ],
    ids=["duplicate-id", "bad-slug", "empty-query", "unknown-key", "yaml-syntax", "duplicate-key", "bad-reviewers", "wrong-project"],
)
def test_bad_claims_file_names_file_line_and_field(tmp_path: Path, broken: str, expected: str) -> None:
    folder = write_project(tmp_path, broken)
    with pytest.raises(InputError) as caught:
        load_project(folder)
    message = str(caught.value)
    assert str(folder / "claims.yaml") in message
    assert expected in message
    assert "\n" not in message


def test_cli_reports_bad_file_in_one_line_with_exit_2_and_writes_nothing(
    tmp_path: Path, tmp_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_project(tmp_path, GOOD.replace("id: k2-mgp", "id: k2-cramps"))
    result = run_cli(capsys, "refresh", str(folder))
    assert result.code == 2
    assert result.err.startswith("litgrade: ")
    assert "claims.yaml:12: field 'claims[1].id': duplicate claim id" in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert not tmp_db.exists()


def test_unknown_project_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="project 'no-such-project' not found"):
        load_project("no-such-project")
