"""The files litgrade ships beside its code: rule tables, JSON Schemas and SQL migrations.

`schemas/` at the top of the repository is the one place people read and edit them; pyproject.toml maps
that folder into the package as `flows.schemas`, so an installed litgrade finds them through
importlib.resources exactly as a checkout does — never by walking up from the code to a repository.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any


def schemas_dir() -> Path:
    """The folder holding the schemas (a real folder: wheels install unzipped, a checkout maps schemas/)."""
    return Path(str(files("flows.schemas")))


def schema_path(name: str) -> Path:
    """One shipped file by its name under schemas/, e.g. `rating_rules.yaml` or `sql/001_core.sql`."""
    return schemas_dir() / name


def json_schema(name: str) -> dict[str, Any]:
    """A JSON Schema for a file people write (claims, curators, grades), by file name."""
    return dict(json.loads(schema_path(name).read_text(encoding="utf-8")))
