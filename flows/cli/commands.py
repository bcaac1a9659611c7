"""The Typer app: every command area's module adds its commands with its `register(app)` function."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import typer
import typer.main

app = typer.Typer(
    name="litgrade",
    help="Check a health article's claims against PubMed, grade the studies, report the evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    from flows.cli import classify, curator, demo, grading, living, mirror, pipeline, server, web

    for module in (pipeline, grading, mirror, demo, classify, living, server, web, curator):
        module.register(app)
    importlib.import_module("flows.cli.retractions").register(app)
    importlib.import_module("flows.cli.export").register(app)


_register_all()


@functools.cache
def command() -> Callable[..., Any]:
    """The app as a click command, built once per process: Typer rebuilds it on every `app(...)`
    (~40 ms for this many commands), and a warm process builds it once for all its children."""
    return typer.main.get_command(app)
