"""The package reads as the pipeline: stages are folders, pure layers never touch DuckDB, no import cycles.

These rules are what keeps the restructure (issue 13) from eroding: a module added at the wrong level or an
import that turns a pure layer into a store client fails here, with the offending module named.
"""

from __future__ import annotations

import ast
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

FLOWS = REPO_ROOT / "flows"
# The stages whose code is pure or talks only to the outside world: never to DuckDB or the store.
STORE_FREE = ("flows.pubmed", "flows.curation", "flows.evidence", "flows.sources", "flows.project")
MAX_TOP_LEVEL_MODULES = 6


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(FLOWS.rglob("*.py")):
        if "schemas" in path.relative_to(FLOWS).parts:
            continue  # the shipped data folder (flows.schemas), not code
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    """Every flows.* / duckdb module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "duckdb" or n.startswith(("flows.", "duckdb."))}


def _stage(module: str) -> str:
    """flows.sources.eutils.client → flows.sources; flows.errors → flows.errors."""
    return ".".join(module.split(".")[:2])


MODULES = _modules()


def test_flows_has_few_top_level_modules() -> None:
    top = sorted(p.name for p in FLOWS.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"top-level modules of flows/: {top}"


@pytest.mark.parametrize("stage", STORE_FREE)
def test_pure_stages_never_import_duckdb_or_the_store(stage: str) -> None:
    offenders = {
        module: sorted(n for n in _imports(path) if n.startswith(("duckdb", "flows.store")))
        for module, path in MODULES.items()
        if module == stage or module.startswith(stage + ".")
    }
    assert {m: i for m, i in offenders.items() if i} == {}


def test_no_import_cycle_between_stages() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for name in _imports(path):
            if name.startswith("flows.") and _stage(name) != _stage(module):
                edges[_stage(module)].add(_stage(name))

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(edges.get(node, ()))
        return False

    cycles = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if reaches(b, a)})
    assert cycles == []


def test_every_package_is_listed_for_installation() -> None:
    """pyproject lists packages by hand (schemas/ ships as flows.schemas): a new folder must be added."""
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert packages - listed == set()
    assert "flows.schemas" in listed


def test_every_stage_says_what_it_is() -> None:
    """A newcomer opening a folder reads its job first."""
    undocumented = [
        m for m, p in MODULES.items() if p.name == "__init__.py" and not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert undocumented == []


def test_readme_layout_lists_every_module() -> None:
    """README's Layout is the newcomer's map: a module missing from it is a module nobody finds."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    missing = [
        str(path.relative_to(REPO_ROOT))
        for path in MODULES.values()
        if path.name != "__init__.py" and f" {path.name} " not in layout
    ]
    assert missing == []
