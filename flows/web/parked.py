"""Studies a curator skipped or marked "maybe": moved to the end of their queue, kept per curator.

Not a grade (nothing in the journal): a screening aid, like Rayyan's "maybe". One small JSON file per
project and curator in the app's data folder, replaced atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from flows.atomic import write_atomic
from flows.project.curators import safe_curator_id
from flows.web import data


def _path(config: data.WebConfig, curator: str) -> Path:
    return config.data_dir / "parked" / config.project.name / f"{safe_curator_id(curator)}.json"


def _read(config: data.WebConfig, curator: str) -> dict[str, dict[str, str]]:
    """claim → {pmid: "skip" | "maybe"}; an unreadable file is treated as empty (it is only an aid)."""
    try:
        raw = json.loads(_path(config, curator).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(c): {str(p): str(v) for p, v in items.items() if v in ("skip", "maybe")}
        for c, items in raw.items()
        if isinstance(items, dict)
    }


def parked_studies(config: data.WebConfig, curator: str, claim: str, *, maybe_only: bool = False) -> set[str]:
    marks = _read(config, curator).get(claim, {})
    return {p for p, v in marks.items() if v == "maybe" or not maybe_only}


def park(config: data.WebConfig, curator: str, claim: str, pmid: str, mark: str) -> None:
    """Skip (mark="skip") or mark "maybe" one study; the latest mark replaces an earlier one."""
    marks = _read(config, curator)
    items = marks.setdefault(claim, {})
    items.pop(pmid, None)
    items[pmid] = mark  # re-inserted last: the study goes to the end of the parked ones
    path = _path(config, curator)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(marks, indent=1, sort_keys=False) + "\n", mode=0o600)
