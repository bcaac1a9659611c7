"""Projects and their claims: curated/<project>/claims.yaml, validated with file, line and field.

A bad file never gets past here: every problem becomes an InputError naming the file, the line and
the field, and nothing downstream runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from flows import config
from flows.errors import InputError
from flows.ids import is_slug
from flows.project.yaml_source import field_path, load_yaml
from flows.resources import json_schema

CLAIMS_FILE = "claims.yaml"


@dataclass(frozen=True, slots=True)
class SourceArticle:
    title: str
    url: str | None = None
    date_read: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    id: str
    label: str
    kind: str | None = None  # clinical | surrogate | mechanistic


DEFAULT_OUTCOME = "main"  # the one outcome of a claim that names none


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    text: str
    query: str
    reviewers: int | None = None
    comment: str | None = None
    section: str | None = None
    population: str | None = None  # who the claim is about
    exposure: str | None = None  # what the claim is about
    outcomes: tuple[Outcome, ...] = ()

    def outcome_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.outcomes) or (DEFAULT_OUTCOME,)


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    dir: Path
    article: SourceArticle
    reviewers: int
    claims: tuple[Claim, ...]

    def claim(self, claim_id: str) -> Claim:
        for claim in self.claims:
            if claim.id == claim_id:
                return claim
        known = ", ".join(c.id for c in self.claims)
        raise InputError(f"{self.dir / CLAIMS_FILE}: no claim '{claim_id}' (claims: {known})")

    def reviewers_for(self, claim_id: str) -> int:
        return self.claim(claim_id).reviewers or self.reviewers

    @property
    def claims_file(self) -> Path:
        return self.dir / CLAIMS_FILE


def project_dir(name_or_path: str | Path) -> Path:
    """`k2-muscle` → curated/k2-muscle; a path (to the folder or its claims.yaml) is used as given."""
    candidate = Path(name_or_path)
    if candidate.name == CLAIMS_FILE:
        candidate = candidate.parent
    if candidate.is_dir():
        return candidate.resolve()
    text = str(name_or_path)
    if is_slug(text) and (config.curated_dir() / text).is_dir():
        return (config.curated_dir() / text).resolve()
    raise InputError(
        f"project '{name_or_path}' not found: give a folder holding {CLAIMS_FILE} "
        f"or a project name under {config.curated_dir()}"
    )


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json_schema("claims.schema.json")


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"{error.message}; remove it or check its spelling"
    if error.validator == "pattern" and error.path and error.path[-1] == "id":
        return (
            f"{error.instance!r} is not a lowercase slug "
            "(a-z, 0-9 and '-', starting with a letter or digit)"
        )
    if error.validator in ("minLength", "pattern") and (
        isinstance(error.instance, str) and not error.instance.strip()
    ):
        return "must not be empty"
    return str(error.message)


def parse_claims_text(text: str, source: Path, folder_name: str) -> Project:
    """Validate the YAML text of a claims file; `source` names it in every error."""
    data, lines = load_yaml(text, source)
    if not isinstance(data, dict):
        raise InputError(f"{source}:1: expected a mapping with 'article' and 'claims'")
    # YAML reads an unquoted 2026-11-24 as a date; the schema wants the text.
    article = data.get("article")
    if isinstance(article, dict) and isinstance(article.get("date_read"), dt.date):
        article["date_read"] = article["date_read"].isoformat()
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (lines.line(list(e.path)), str(e.path)))
    if errors:
        first = errors[0]
        path = list(first.path)
        if first.validator == "additionalProperties" and isinstance(first.instance, dict):
            allowed = set(first.schema.get("properties", {}))
            extra = sorted(k for k in first.instance if k not in allowed)
            if extra:
                path = [*path, extra[0]]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise InputError(
            f"{source}:{lines.line(path)}: field '{field_path(path)}': {_describe(first)}{more}"
        )
    seen: dict[str, int] = {}
    for index, item in enumerate(data["claims"]):
        line = lines.line(["claims", index, "id"])
        if item["id"] in seen:
            raise InputError(
                f"{source}:{line}: field 'claims[{index}].id': duplicate claim id '{item['id']}' "
                f"(first used on line {seen[item['id']]}); ids must be unique"
            )
        seen[item["id"]] = line
    name = data.get("project") or folder_name
    if data.get("project") and data["project"] != folder_name:
        raise InputError(
            f"{source}:{lines.line(['project'])}: field 'project': '{data['project']}' does not match "
            f"the folder name '{folder_name}'; rename one of them"
        )
    article = data["article"]
    return Project(
        name=name,
        dir=source.parent,
        article=SourceArticle(
            title=article["title"], url=article.get("url"), date_read=article.get("date_read")
        ),
        reviewers=int(data.get("reviewers", 1)),
        claims=tuple(
            Claim(
                id=c["id"],
                text=c["text"].strip(),
                query=c["query"].strip(),
                reviewers=c.get("reviewers"),
                comment=c.get("comment"),
                section=c.get("section"),
                population=c.get("population"),
                exposure=c.get("exposure"),
                outcomes=tuple(
                    Outcome(id=o["id"], label=o["label"].strip(), kind=o.get("kind"))
                    for o in c.get("outcomes", ())
                ),
            )
            for c in data["claims"]
        ),
    )


def load_project(name_or_path: str | Path) -> Project:
    folder = project_dir(name_or_path)
    source = folder / CLAIMS_FILE
    if not source.is_file():
        raise InputError(f"{source}: missing; a project folder needs a {CLAIMS_FILE}")
    if not is_slug(folder.name):
        raise InputError(f"{folder}: project folder name must be a lowercase slug (a-z, 0-9, '-')")
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_claims_text(text, source, folder.name)
