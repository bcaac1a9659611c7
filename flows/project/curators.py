"""Who may grade a project: curated/<project>/curators.yaml, validated with file, line and field.

A grade from someone not declared here is refused, so a typo in a name never becomes a third reviewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jsonschema

from flows.errors import InputError
from flows.ids import is_curator_id
from flows.project.yaml_source import field_path, load_yaml
from flows.resources import json_schema

CURATORS_FILE = "curators.yaml"
Role = Literal["curator", "adjudicator"]


@dataclass(frozen=True, slots=True)
class Curator:
    id: str
    name: str
    role: Role

    @property
    def is_adjudicator(self) -> bool:
        return self.role == "adjudicator"


def safe_curator_id(value: str) -> str:
    """`value`, or an InputError: curator ids name files (grades/<id>.jsonl), so only a short slug."""
    if not is_curator_id(value):
        raise InputError(
            f"curator id {value!r} is not a safe slug (a-z, 0-9, '-' or '_', at most 40 characters)"
        )
    return value


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json_schema("curators.schema.json")


def parse_curators_text(text: str, source: Path) -> dict[str, Curator]:
    data, lines = load_yaml(text, source)
    errors = sorted(
        jsonschema.Draft202012Validator(_schema()).iter_errors(data),
        key=lambda e: (lines.line(list(e.path)), str(e.path)),
    )
    if errors:
        first = errors[0]
        path = list(first.path)
        hint = ""
        if path and path[-1] == "id" and first.validator == "pattern":
            hint = " (a lowercase slug: a-z, 0-9, '-' or '_', at most 40 characters)"
        raise InputError(
            f"{source}:{lines.line(path)}: field '{field_path(path)}': {first.message}{hint}; "
            "each entry needs id, name and role (curator or adjudicator)"
        )
    found: dict[str, Curator] = {}
    for index, item in enumerate(data["curators"]):
        if item["id"] in found:
            line = lines.line(["curators", index, "id"])
            raise InputError(
                f"{source}:{line}: field 'curators[{index}].id': '{item['id']}' is declared twice; keep one"
            )
        found[item["id"]] = Curator(id=item["id"], name=item["name"].strip(), role=item["role"])
    return found


def load_curators(project_dir: Path) -> dict[str, Curator]:
    source = Path(project_dir) / CURATORS_FILE
    if not source.is_file():
        raise InputError(
            f"{source}: missing; declare who grades this project, e.g.\n"
            "curators:\n  - {id: alice, name: Alice Example, role: curator}\n"
            "  - {id: carol, name: Carol Example, role: adjudicator}"
        )
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_curators_text(text, source)


def require_curator(curators: dict[str, Curator], curator_id: str, source: Path) -> Curator:
    """The declared curator, or an InputError saying where to declare them."""
    found = curators.get(safe_curator_id(curator_id))
    if found is None:
        known = ", ".join(sorted(curators)) or "none"
        raise InputError(
            f"curator '{curator_id}' is not declared in {source / CURATORS_FILE} (declared: {known}); "
            "add them there first"
        )
    return found


ROLES: tuple[Role, ...] = ("curator", "adjudicator")


def add_curator(project_dir: Path, curator_id: str, name: str, role: str = "curator") -> Curator:
    """Declare a curator in `project_dir`/curators.yaml, keeping the file's comments and layout.

    Refuses (InputError, nothing written) an unsafe id, an id already declared, an empty name or an
    unknown role; the edited text is validated like any curators.yaml before it replaces the old file.
    """
    from io import StringIO

    from ruamel.yaml import YAML

    from flows.atomic import write_atomic
    from flows.pubmed.text import strip_controls

    source = Path(project_dir) / CURATORS_FILE
    safe_curator_id(curator_id)
    clean_name = " ".join(strip_controls(name).split())
    if not clean_name:
        raise InputError(
            f"curator '{curator_id}': --name is empty; give the person's name, e.g. --name \"Alice Example\""
        )
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of: {', '.join(ROLES)}")
    existing = load_curators(project_dir)
    if curator_id in existing:
        raise InputError(
            f"{source}: curator '{curator_id}' is already declared (as {existing[curator_id].role}); "
            "nothing changed"
        )
    yaml = YAML()  # round-trip: comments, order and quoting of the rest of the file are kept
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load(source.read_text(encoding="utf-8"))
    document["curators"].append({"id": curator_id, "name": clean_name, "role": role})
    buffer = StringIO()
    yaml.dump(document, buffer)
    text = buffer.getvalue()
    added = parse_curators_text(text, source)[curator_id]  # the file must still be valid as a whole
    write_atomic(source, text)
    return added
