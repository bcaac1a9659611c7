"""Reports render only what changed: an unchanged claim's files are left as they are (same inode, same
bytes), a changed claim is rendered again, a renderer change or a missing file renders again, and
rendering in worker processes gives the same bytes as in this one."""

from __future__ import annotations

import json
from pathlib import Path

from flows.curation.journal import append_events
from flows.project.claims import Project
from flows.reports.write import RENDER_STATE, write_project_reports
from tests.test_report_fixtures import ev, report_setup  # noqa: F401

Setup = tuple[Project, Path, Path]


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(out.iterdir()) if p.is_file()}


def tree(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file() and p.name != RENDER_STATE}


def claim_files(out: Path, claim: str) -> set[str]:
    return {p.name for p in out.iterdir() if p.name.startswith(f"{claim}.")}


def test_unchanged_claims_are_not_rendered_again(report_setup: Setup, tmp_path: Path) -> None:  # noqa: F811
    project, db, out = report_setup
    first = write_project_reports(project, db, out)
    assert first.unchanged == 0
    before, content = stamps(out), tree(out)
    again = write_project_reports(project, db, out)
    assert again.unchanged == 2 and "2 claim(s) unchanged, not rendered again" in again.lines()[0]
    after = stamps(out)
    for claim in ("k2-vessels", "k2-cramps"):
        for name in claim_files(out, claim):
            assert after[name] == before[name], name  # not even rewritten
    assert tree(out) == content

    # one claim's grade changes: that claim alone is rendered again, and equals a full render
    append_events(project.dir, [ev("alice", "2001", claim="k2-cramps", level="rct", population=40, minute=30)])
    third = write_project_reports(project, db, out)
    assert third.unchanged == 1
    now = stamps(out)
    assert all(now[n] == before[n] for n in claim_files(out, "k2-vessels"))
    assert any(now[n] != before[n] for n in claim_files(out, "k2-cramps"))
    fresh = tmp_path / "fresh"
    write_project_reports(project, db, fresh, previous_dir=out)
    assert tree(fresh) == tree(out)


def test_a_missing_file_or_a_new_renderer_renders_again(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    content = tree(out)
    (out / "k2-cramps.prisma.svg").unlink()
    assert write_project_reports(project, db, out).unchanged == 1
    assert tree(out) == content
    state = json.loads((out / RENDER_STATE).read_text(encoding="utf-8"))
    (out / RENDER_STATE).write_text(json.dumps({**state, "renderer": "older templates"}), encoding="utf-8")
    assert write_project_reports(project, db, out).unchanged == 0
    assert tree(out) == content


def test_worker_processes_render_the_same_bytes(report_setup: Setup, tmp_path: Path) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out, workers=1)
    parallel = tmp_path / "parallel"
    write_project_reports(project, db, parallel, workers=2)
    assert tree(parallel) == tree(out)
