"""The public library API (flows/__init__.py): every name in __all__ resolves to the function or type
of its module, and `import flows` alone stays cheap (no Prefect, FastAPI or DuckDB)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import flows

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_resolves_to_its_module_attribute() -> None:
    assert set(flows.__all__) == {"__version__", *flows._EXPORTS}
    for name, module in flows._EXPORTS.items():
        assert getattr(flows, name) is getattr(importlib.import_module(module), name), name
    assert set(flows.__all__) <= set(dir(flows))
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = flows.nothing_here


def test_import_flows_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, flows; "
        "print(sorted(m for m in ('prefect', 'fastapi', 'duckdb', 'pandas') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
