"""What `pip install .` ships: every file of flows/ and schemas/ reaches the built package, and the
built package finds its rule tables, SQL and templates without the checkout.

The wheel's files are what setuptools' `build_py` copies (a wheel adds only its metadata), so the
test runs that step on a copy of the sources: offline, no build backend download, under a second.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")


def _shipped(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def _build(tmp_path: Path) -> Path:
    src, out = tmp_path / "src", tmp_path / "built"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, src / name)
    shutil.copytree(REPO_ROOT / "schemas", src / "schemas", ignore=SKIP)
    # A checkout may link flows/schemas -> ../schemas for in-place runs; a clean clone has no such link.
    shutil.copytree(
        REPO_ROOT / "flows", src / "flows", ignore=shutil.ignore_patterns("schemas", "__pycache__", "*.pyc")
    )
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib", str(out)],
        cwd=src, check=True, capture_output=True, text=True,
    )
    return out


def test_built_package_holds_every_source_and_data_file(tmp_path: Path) -> None:
    built = _shipped(_build(tmp_path) / "flows")
    flows_files = {
        f for f in _shipped(REPO_ROOT / "flows") if not f.startswith("schemas/")  # the link, if any
    }
    schema_files = {f"schemas/{f}" for f in _shipped(REPO_ROOT / "schemas")}
    assert flows_files - built == set()  # code, templates, static files, py.typed
    assert schema_files - built == set()  # rule tables, JSON Schemas, SQL migrations
    assert {"py.typed", "schemas/certainty_rules.yaml", "schemas/sql/001_core.sql"} <= built
    assert any(f.startswith("reports/templates/") for f in built)
    assert any(f.startswith("web/static/") for f in built) and any(f.startswith("web/templates/") for f in built)


def test_built_package_finds_its_files_without_the_checkout(tmp_path: Path) -> None:
    out = _build(tmp_path)
    code = """
import sys
from flows import resources
from flows.curation.ladder import load_ladder
from flows.evidence.rating import load_rules
from flows.reports.render import TEMPLATES_DIR, environment
from flows.store.db import migrations

assert resources.schemas_dir().is_relative_to(sys.argv[1]), resources.schemas_dir()
assert TEMPLATES_DIR.is_relative_to(sys.argv[1]), TEMPLATES_DIR
assert migrations() and load_rules() and load_ladder()
resources.json_schema("grade.schema.json")
for template in TEMPLATES_DIR.iterdir():
    environment().get_template(template.name)
"""
    run = subprocess.run(  # outside the checkout, on the built tree only
        [sys.executable, "-c", code, str(out)],
        cwd=tmp_path, env={"PYTHONPATH": str(out), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
