"""Person-written files attacked (issue 16, findings 2, 3, 7, 8's CSV items): YAML alias bombs, size
caps, a full disk during a save, one curator's damaged grades file, ids with a trailing newline,
hostile CSV sheets. Real files, a real file-size limit (RLIMIT_FSIZE → EFBIG), the real CLI and app."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from flows.curation.journal import (
    JournalWriteError,
    append_event,
    grades_path,
    read_events,
    read_journals,
    repair_journal,
)
from flows.curation.sheet import SHEET_COLUMNS
from flows.errors import InputError
from flows.project.claims import load_project
from flows.project.curators import load_curators
from flows.pubmed.records import Article
from flows.web.app import create_app
from tests.cli_helpers import run_cli
from tests.grading_fixtures import ev, write_project
from tests.test_grading_cli import CLAIM, graded_project  # noqa: F401  (a fixture)
from tests.web_fixtures import CLAIM_SINGLE, PASSWORDS, build_site

REPO = Path(__file__).resolve().parent.parent
LITGRADE = Path(sys.executable).parent / "litgrade"
P1, P2, P3 = "15514282", "9052783", "28620475"

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


# -- finding 2: YAML a person wrote ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "text", "line"),
    [
        ("claims.yaml", "article: {title: T}\n" + BOMB, 2),
        ("curators.yaml", "curators: &x\n  - *x\n", 1),
        ("curators.yaml", "curators:\n  - &a {id: alice, name: A, role: curator}\n  - *a\n", 2),
    ],
)
def test_yaml_anchors_and_aliases_are_refused_at_once(tmp_path: Path, file: str, text: str, line: int) -> None:
    folder = write_project(tmp_path)
    (folder / file).write_text(text, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(InputError) as raised:
        load_curators(folder) if file == "curators.yaml" else load_project(folder)
    assert time.perf_counter() - started < 1.0
    assert str(raised.value) == (
        f"{folder / file}:{line}: YAML anchors and aliases (&name, *name) are not allowed here; "
        "write the value out in full"
    )


def test_the_bomb_is_small_and_the_cli_answers_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(BOMB) < 600
    folder = write_project(tmp_path)
    (folder / "claims.yaml").write_text(BOMB, encoding="utf-8")
    result = run_cli(capsys, "grades", "export", str(folder), "--curator", "alice")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "claims.yaml:1: YAML anchors and aliases" in result.err


def test_an_oversize_yaml_file_is_refused_with_its_size(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    (folder / "curators.yaml").write_text("# padding\n" * 200_000, encoding="utf-8")
    with pytest.raises(InputError, match=r"curators\.yaml: 2,000,000 bytes is more than the 1,000,000"):
        load_curators(folder)


# -- finding 3: grade journals -----------------------------------------------------------------------


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """A real RLIMIT_FSIZE on this process: a write past `limit` fails with EFBIG (Python ignores
    SIGXFSZ), exactly as a full disk fails a write part-way."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_refused_write_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    append_event(folder, ev("alice", P1))
    path = grades_path(folder, "alice")
    before = path.read_bytes()
    with file_size_limit(len(before) + 40), pytest.raises(JournalWriteError) as raised:
        append_event(folder, ev("alice", P2, note="n" * 500))  # part of the line fits, then EFBIG
    assert path.read_bytes() == before  # cut back: no torn line left behind
    assert str(raised.value) == (
        f"{path}: could not save (File too large); nothing was added. Free disk space (or raise the "
        "file-size limit) and save the grade again"
    )
    append_event(folder, ev("alice", P2))
    assert [e.pmid for e in read_events(folder, strict=True)] == [P1, P2]


def test_cli_save_on_a_full_disk_is_one_line_and_no_traceback(
    capsys: pytest.CaptureFixture[str], graded_project: tuple[Path, list[Article]], tmp_db: Path  # noqa: F811
) -> None:
    folder, articles = graded_project
    append_event(folder, ev("alice", articles[1].pmid))
    path = grades_path(folder, "alice")
    before = path.read_bytes()
    limit = len(before) + 30

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    proc = subprocess.run(
        [str(LITGRADE), "grades", "set", str(folder), CLAIM, articles[0].pmid, "--curator", "alice",
         "--level", "rct", "--direction", "supports", "--note", "x" * 300],
        capture_output=True, text=True, timeout=120, preexec_fn=limited, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "LITGRADE_DB": str(tmp_db)},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"litgrade: {path}: could not save (File too large); nothing was added. Free disk space "
        "(or raise the file-size limit) and save the grade again\n"
    )
    assert path.read_bytes() == before


BAD_LINES = {
    "conflict marker": b"<<<<<<< HEAD\n",
    "NUL bytes": b"\x00\x00\x00\x00\n",
    "bad json": b'{"claim": "k2-calcification", "pmid"\n',
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_a_bad_middle_line_quarantines_that_curator_only_until_repaired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    folder = write_project(tmp_path)
    append_event(folder, ev("alice", P1))
    append_event(folder, ev("bob", P1))
    append_event(folder, ev("bob", P2, minute=1))
    path = grades_path(folder, "bob")
    first, second = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(first + BAD_LINES[kind] + second)

    journals = read_journals(folder)
    assert [(e.curator, e.pmid) for e in journals.events] == [("alice", P1)]
    [bad] = journals.quarantined
    assert bad.curator == "bob" and bad.message.startswith(f"{path}:2: ")
    assert "run `litgrade grades repair k2-demo --curator bob`" in bad.message

    # every command keeps working, and names the file once on stderr
    result = run_cli(capsys, "agreement", str(folder))
    assert result.code == 0 and f"warning: {path}:2: " in result.err
    # bob cannot build on a damaged file: he is told why and the exact fix
    with pytest.raises(InputError, match=rf"nothing was saved: {re.escape(str(path))}:2: .*grades repair"):
        append_event(folder, ev("bob", P3, minute=2))
    append_event(folder, ev("alice", P2, minute=1))  # alice is not stopped

    fixed = run_cli(capsys, "grades", "repair", str(folder), "--curator", "bob")
    assert fixed.code == 0 and "moved 1 bad line(s) (line 2)" in fixed.out
    [side] = path.parent.glob("bob.jsonl.bad-*")
    assert side.read_bytes() == BAD_LINES[kind]  # kept byte for byte
    assert path.read_bytes() == first + second
    assert [e.pmid for e in read_events(folder, strict=True) if e.curator == "bob"] == [P1, P2]
    again = run_cli(capsys, "grades", "repair", str(folder), "--curator", "bob")
    assert "nothing to do" in again.out


def test_repair_sets_aside_every_bad_line_torn_end_included(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    for minute, pmid in enumerate((P1, P2, P3)):
        append_event(folder, ev("alice", pmid, minute=minute))
    path = grades_path(folder, "alice")
    a, b, c = path.read_bytes().splitlines(keepends=True)
    wrong_level = b.replace(b'"rct"', b'"rtc"')
    path.write_bytes(a + wrong_level + b"=======\n" + c + b'{"claim":"k2-calc')
    done = repair_journal(folder, "alice")
    assert done is not None and done.lines == (2, 3, 5)
    assert done.side.read_bytes() == wrong_level + b"=======\n" + b'{"claim":"k2-calc'
    assert path.read_bytes() == a + c


def test_journals_are_read_incrementally_and_whole_again_when_replaced(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    append_event(folder, ev("alice", P1))
    assert [e.pmid for e in read_events(folder, strict=True)] == [P1]
    append_event(folder, ev("alice", P2, minute=1))  # appended bytes only
    assert [e.pmid for e in read_events(folder, strict=True)] == [P1, P2]
    path = grades_path(folder, "alice")
    one = path.read_bytes().splitlines(keepends=True)[1]
    path.write_bytes(one)  # shrank (git checkout of an older version)
    assert [e.pmid for e in read_events(folder, strict=True)] == [P2]
    replacement = path.with_name("new.tmp")
    replacement.write_bytes(one + one.replace(P2.encode(), P3.encode()))
    os.replace(replacement, path)  # a new inode
    assert [e.pmid for e in read_events(folder, strict=True)] == [P2, P3]
    with path.open("ab") as handle:  # an append by another process, then a bad one
        handle.write(one.replace(P2.encode(), P1.encode()))
    assert [e.pmid for e in read_events(folder, strict=True)] == [P2, P3, P1]
    with path.open("ab") as handle:
        handle.write(b"\x00\n")
    assert read_journals(folder).quarantined[0].message.startswith(f"{path}:4: NUL bytes")


def _signed_in(client: TestClient, curator: str) -> dict[str, str]:
    token = re.search(r'name="token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"curator": curator, "password": PASSWORDS[curator], "token": token.group(1)})
    page = client.get(f"/claims/{CLAIM_SINGLE}")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    return {"X-CSRF-Token": csrf.group(1), "HX-Request": "true"}


GRADE_FORM = {"relevance": "include", "level": "rct", "direction": "supports"}


def test_web_save_on_a_full_disk_and_with_a_damaged_file_says_why(tmp_path: Path) -> None:
    site = build_site(tmp_path)
    loopback = "http://127.0.0.1"  # the app answers loopback Host names only
    alice = TestClient(create_app(site.config), base_url=loopback)
    bob = TestClient(create_app(site.config), base_url=loopback)
    alice_headers, bob_headers = _signed_in(alice, "alice"), _signed_in(bob, "bob")
    first, second = site.single[0], site.single[1]
    url = f"/claims/{CLAIM_SINGLE}/studies/{{}}/grade"
    assert alice.post(url.format(first), data=GRADE_FORM, headers=alice_headers).status_code == 200
    path = grades_path(site.project_dir, "alice")
    before = path.read_bytes()

    with file_size_limit(len(before) + 20):
        full = alice.post(url.format(second), data=GRADE_FORM, headers=alice_headers)
    assert full.status_code == 422  # the study partial, swapped in by htmx: not a bare 500
    assert "Not saved: " in full.text and "could not save (File too large); nothing was added" in full.text
    assert path.read_bytes() == before

    path.write_bytes(b"<<<<<<< HEAD\n" + before)  # a conflict marker from a git merge
    refused = alice.post(url.format(second), data=GRADE_FORM, headers=alice_headers)
    assert refused.status_code == 422
    assert "Not saved: nothing was saved: " in refused.text and "a git conflict marker" in refused.text
    assert "litgrade grades repair web-demo --curator alice" in refused.text
    # bob, and every page, keep working
    for page in ("/", f"/claims/{CLAIM_SINGLE}"):
        assert bob.get(page).status_code == 200
        assert alice.get(page).status_code == 200
    assert bob.post(url.format(first), data=GRADE_FORM, headers=bob_headers).status_code == 200
    assert [e.curator for e in read_journals(site.project_dir).events] == ["bob"]


# -- finding 7: ids matched whole; `grades set` only for the claim's results ------------------------


@pytest.mark.parametrize(
    ("pmid", "claim", "expected"),
    [
        ("99999999", CLAIM, "PMID 99999999 is not among claim 'k2-calcification''s search results"),
        ("15514282\n", CLAIM, "PMID '15514282\\n' is not a PubMed id"),
        ("15514282", CLAIM + "\n", "no claim 'k2-calcification\n'"),
    ],
)
def test_grades_set_only_grades_a_study_the_claim_found(
    capsys: pytest.CaptureFixture[str],
    graded_project: tuple[Path, list[Article]],  # noqa: F811
    pmid: str,
    claim: str,
    expected: str,
) -> None:
    folder, _ = graded_project
    result = run_cli(capsys, "grades", "set", str(folder), claim, pmid, "--curator", "alice",
                     "--level", "rct", "--direction", "supports")  # fmt: skip
    assert result.code == 2 and expected in result.err
    assert not grades_path(folder, "alice").exists()


# -- finding 8, CSV items -----------------------------------------------------------------------------


def _sheet_text(rows: list[str]) -> str:
    return ",".join(SHEET_COLUMNS) + "\n" + "".join(rows)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('"' + "x" * 140_000 + '"', ":3: not a readable CSV: a cell is longer than 131,072 characters"),
        ('"unclosed', ':3: not a readable CSV: unexpected end of data: a quote (") is not closed'),
    ],
)
def test_a_hostile_sheet_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
    graded_project: tuple[Path, list[Article]],  # noqa: F811
    tmp_path: Path,
    cell: str,
    expected: str,
) -> None:
    folder, articles = graded_project
    good = f"{folder},{CLAIM},{{pmid}},T,J,2020,,,include,,rct,supports,,,,\n"
    bad = f"{folder},{CLAIM},{articles[1].pmid},{cell},J,2020,,,include,,rct,supports,,,,\n"
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(_sheet_text([good.format(pmid=articles[0].pmid), bad, good.format(pmid=articles[2].pmid)]))
    result = run_cli(capsys, "grades", "import", str(sheet), "--curator", "alice")
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and f"{sheet}{expected}" in result.err
    assert not grades_path(folder, "alice").exists()
