"""Run the real `litgrade` console script as a child process against one data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LITGRADE = str(Path(sys.executable).parent / "litgrade")


def child_env(data: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "LITGRADE_DATA": str(data),
        "LITGRADE_DB": str(data / "store.duckdb"),
        "LITGRADE_MIRROR": str(data / "mirror.duckdb"),
        "NCBI_EMAIL": "tests@litgrade.invalid",
        "PYTHONPATH": str(REPO),
        **extra,
    }
    for name in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_LOGGING_SETTINGS_PATH", "NCBI_API_KEY"):
        env.pop(name, None)
    return env


def litgrade(
    env: Mapping[str, str],
    *args: str,
    timeout: float = 300,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LITGRADE, *args], env=dict(env), cwd=REPO, capture_output=True, text=True, timeout=timeout,
        preexec_fn=preexec,
    )


def write_project(root: Path, queries: list[str]) -> Path:
    folder = root / "proj"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["article: {title: test}", "claims:"]
    for i, query in enumerate(queries):
        lines += [f"  - id: claim-{i}", f"    text: claim {i}", f"    query: '{query}'"]
    (folder / "claims.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
