"""litgrade: literature-evidence curation pipeline (PubMed → DuckDB → graded evidence reports).

The library API, what a notebook or script calls (the CLI is built on the same functions)::

    import flows

    project = flows.load_project("k2-muscle")       # curated/k2-muscle/claims.yaml, validated
    flows.refresh_flow(project="k2-muscle")          # the refresh flow: search, store new records
    flows.write_project_reports(project, flows.db_path(), flows.reports_dir(project.name))
    flows.living_refresh(project="k2-muscle")        # the scheduled run: refresh, re-check, report, digest
    flows.run_demo()                                 # the offline K2 showcase
    app = flows.create_app(flows.WebConfig(project=project, db_path=flows.db_path(),
                                           data_dir=flows.data_dir()))  # serve with uvicorn

Projects, reports and `.data/` are found from the working directory or LITGRADE_HOME.

Every name resolves on first use (module `__getattr__`, PEP 562), so `import flows` stays cheap:
Prefect, FastAPI and DuckDB load only with the first name that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name → the module defining it (flows.pipeline sets Prefect's quiet, offline settings on import).
_EXPORTS: dict[str, str] = {
    "LitgradeError": "flows.errors",
    "home": "flows.config",
    "data_dir": "flows.config",
    "db_path": "flows.config",
    "reports_dir": "flows.config",
    "Project": "flows.project.claims",
    "load_project": "flows.project.claims",
    "read_events": "flows.curation.journal",
    "final_grades": "flows.curation.review",
    "refresh_flow": "flows.pipeline.refresh",
    "living_refresh": "flows.pipeline.living",
    "project_status": "flows.pipeline.status",
    "run_demo": "flows.pipeline.demo",
    "ReportSummary": "flows.reports.write",
    "write_project_reports": "flows.reports.write",
    "WebConfig": "flows.web.data",
    "create_app": "flows.web.app",
}

__all__ = [  # _EXPORTS's names, spelt out for tools that read the list without running it
    "LitgradeError",
    "Project",
    "ReportSummary",
    "WebConfig",
    "__version__",
    "create_app",
    "data_dir",
    "db_path",
    "final_grades",
    "home",
    "living_refresh",
    "load_project",
    "project_status",
    "read_events",
    "refresh_flow",
    "reports_dir",
    "run_demo",
    "write_project_reports",
]

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports on demand
    from flows.config import data_dir, db_path, home, reports_dir
    from flows.curation.journal import read_events
    from flows.curation.review import final_grades
    from flows.errors import LitgradeError
    from flows.pipeline.demo import run_demo
    from flows.pipeline.living import living_refresh
    from flows.pipeline.refresh import refresh_flow
    from flows.pipeline.status import project_status
    from flows.project.claims import Project, load_project
    from flows.reports.write import ReportSummary, write_project_reports
    from flows.web.app import create_app
    from flows.web.data import WebConfig


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'flows' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
