"""Render claims' report files and stage them on disk: what a worker process runs.

Kept apart from reports.write so a worker imports only the render stack (Jinja2, the templates'
helpers), not the store (DuckDB) that write.py reads. A worker writes its claims' files as fsync'ed
temp files itself and hands back only their names: sending ~0.7 MB of rendered text per claim back
through a pipe cost more than the rendering saved. The parent renames them into place once every
claim is rendered (flows.atomic.commit_staged), so nothing is replaced before all are ready.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.atomic import Staged, stage_files
from flows.reports.prisma import prisma2020_csv, prisma_svg_file
from flows.reports.render import render_claim, render_sof


def sof_files(report: dict[str, Any]) -> dict[str, str]:
    """A claim's Summary-of-Findings exports beside its report: <claim>.sof.csv and <claim>.sof.md."""
    return {f"{report['claim']['id']}.{suffix}": text for suffix, text in render_sof(report).items()}


def prisma_files(report: dict[str, Any]) -> dict[str, str]:
    """A claim's PRISMA 2020 diagram as a standalone .svg, and its numbers as the PRISMA2020 app's CSV."""
    claim_id = report["claim"]["id"]
    return {
        f"{claim_id}.prisma.svg": prisma_svg_file(report),
        f"{claim_id}.prisma2020.csv": prisma2020_csv(report),
    }


def claim_files(report: dict[str, Any]) -> dict[str, str]:
    """file name → text for one claim: its report in every format, PRISMA and SoF exports."""
    files = {f"{report['claim']['id']}.{fmt}": text for fmt, text in render_claim(report).items()}
    files.update(prisma_files(report))
    files.update(sof_files(report))
    return files


def stage_claims(reports: list[dict[str, Any]], out_dir: Path) -> list[Staged]:
    """Render `reports` and stage their files in `out_dir` (temp files; see flows.atomic)."""
    files: dict[Path, str] = {}
    for report in reports:
        files.update({out_dir / name: text for name, text in claim_files(report).items()})
    return stage_files(files)
