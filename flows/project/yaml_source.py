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


def load_yaml(text: str, source: Path) -> tuple[Any, YamlLines]:
    """Parse `text`; syntax errors and repeated keys become an InputError naming `source` and line."""
    try:
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
