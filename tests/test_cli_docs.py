"""Every `litgrade` command documents itself with an example, and README names every top-level command."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from flows.cli import app
from tests.conftest import REPO_ROOT


def commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full name, command) for every leaf command (typer vendors its own click classes)."""
    if hasattr(group, "commands"):
        for name, command in sorted(group.commands.items()):
            yield from commands(command, f"{prefix} {name}".strip())
    else:
        yield prefix, group


def test_every_command_has_help_with_an_example() -> None:
    found = dict(commands(typer.main.get_command(app)))
    assert {"refresh", "report", "status", "grade", "demo", "serve", "schedule"} <= set(found)
    missing = [name for name, command in found.items() if "Example" not in (command.help or "")]
    assert not missing, f"commands whose --help has no example: {missing}"


def test_readme_names_every_top_level_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    top: Any = typer.main.get_command(app)
    undocumented = [name for name in top.commands if f"litgrade {name}" not in readme]
    assert not undocumented, f"README does not mention: {undocumented}"
