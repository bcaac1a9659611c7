"""YAML a person wrote, read with line numbers so every error can name the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flows.errors import InputError


class YamlLines:
    """Maps a JSON path (keys / indexes) to the YAML line it came from."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def line(self, path: list[str | int]) -> int:
        node = self.root
        best = node.start_mark.line + 1 if node is not None else 1
        for part in path:
            if isinstance(node, yaml.MappingNode):
                found = None
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == part:
                        found = value
                        best = key.start_mark.line + 1
                        break
                node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                best = node.start_mark.line + 1
            else:
                break
            if node is None:
                break
        return best


def duplicate_key(node: yaml.Node | None, where: list[str | int]) -> tuple[list[str | int], int] | None:
    """PyYAML silently keeps the last of two equal keys; a person meant one of them."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    return [*where, key.value], key.start_mark.line + 1
                seen.add(key.value)
            found = duplicate_key(value, [*where, getattr(key, "value", "?")])
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = duplicate_key(item, [*where, index])
            if found:
                return found
    return None


def field_path(path: list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


# claims.yaml and curators.yaml are a few KB; a file past this is not one a person wrote by hand.
MAX_YAML_BYTES = 1_000_000


def refuse_anchors(text: str, source: Path) -> None:
    """Refuse anchors (&a) and aliases (*a) before anything expands them.

    One pass over the parser's events, which never follows an alias: a 576-byte alias bomb or a
    recursive alias is answered at its first anchor, at once (composing it would walk each alias
    again and again, and a recursive one has no end).
    """
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            line = mark.line + 1 if mark is not None else 1
            raise InputError(
                f"{source}:{line}: YAML anchors and aliases (&name, *name) are not allowed here; "
                "write the value out in full"
            )


def load_yaml(text: str, source: Path) -> tuple[Any, YamlLines]:
    """Parse `text`; syntax errors, anchors/aliases, oversize files and repeated keys become an
    InputError naming `source` and line."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_YAML_BYTES:
        raise InputError(
            f"{source}: {size:,} bytes is more than the {MAX_YAML_BYTES:,} a hand-written YAML file may "
            "have; is this the right file?"
        )
    try:
        refuse_anchors(text, source)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 1
        raise InputError(f"{source}:{line}: YAML syntax error: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: YAML error: {exc}") from None
    dup = duplicate_key(root, [])
    if dup:
        path, line = dup
        raise InputError(f"{source}:{line}: field '{field_path(path)}' is given twice; keep one")
    return data, YamlLines(root)
