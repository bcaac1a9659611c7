"""The `report` Prefect flow: write a project's reports as one task and leave a summary artifact.

No domain logic here: flows.reports.write does the work; the flow adds a run record and a markdown artifact
so scheduled refresh-then-report deployments show what each run concluded.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from flows import config
from flows.project.claims import load_project
from flows.reports.write import ReportSummary, write_project_reports


@task(name="write-reports", task_run_name="write-reports {project}", cache_policy=NONE)
def write_reports_task(
    project: str, db_path: str, out_dir: str, snapshot_note: str | None = None
) -> ReportSummary:
    return write_project_reports(project, Path(db_path), Path(out_dir), snapshot_note=snapshot_note)


def summary_markdown(summary: ReportSummary) -> str:
    rows = "\n".join(
        f"| {c.claim_id} | {c.rating_label} | `{c.rule_id}` | {c.included} | {c.awaiting} | {c.in_conflict} |"
        for c in summary.claims
    )
    notes = "".join(f"\n> {n}\n" for n in summary.snapshot_notes)
    return (
        f"# Reports for {summary.project}\n\nEvidence as of {summary.evidence_as_of or 'never searched'}; "
        f"{len(summary.files)} files in `{summary.out_dir}`.\n{notes}\n"
        "| Claim | Rating | Rule | Included | To grade | In conflict |\n|---|---|---|---:|---:|---:|\n"
        f"{rows}\n"
    )


@flow(name="report", flow_run_name="report {project}", validate_parameters=False)
def report_flow(
    project: str,
    db_path: str | None = None,
    out_dir: str | None = None,
    snapshot_note: str | None = None,
) -> ReportSummary:
    """Write reports/<project>/ from the store at `db_path` (default LITGRADE_DB) and the grade files."""
    proj = load_project(project)
    store = db_path or str(config.db_path())
    target = out_dir or str(config.reports_dir(proj.name))
    summary = write_reports_task(str(proj.dir), store, target, snapshot_note)
    create_markdown_artifact(
        markdown=summary_markdown(summary), key=f"report-{proj.name}", description="Ratings per claim"
    )
    return summary
