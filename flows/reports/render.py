"""Report data → HTML, Markdown and JSON text (Jinja2 templates in flows/reports/templates/).

HTML templates autoescape everything; the only markup let through from outside data is the parser's
inline subset (i, b, sup, sub, u, no attributes), re-sanitised here because the store is outside input
too. Markdown output escapes what GitHub would otherwise read as markup or raw HTML.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from flows.reports.charts import DIRECTION_COLORS, matrix_chart, ratings_chart

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
INLINE_TAGS = frozenset({"i", "b", "sup", "sub", "u"})
_ESCAPED_TAG = re.compile(r"&lt;(/?)([a-z]+)&gt;")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()|~!{}#])")
_MD_LINE_START = re.compile(r"^(\s*)([-+>=]|\d+[.)])")


def inline_html(markup: str | None, fallback: str = "") -> Markup:
    """Outside inline HTML reduced to balanced <i>/<b>/<sup>/<sub>/<u> without attributes; every
    other tag-like text is shown literally."""
    text = escape(markup if markup else fallback, quote=True)
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _ESCAPED_TAG.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        closing, tag = m.group(1) == "/", m.group(2)
        if tag not in INLINE_TAGS:
            out.append(m.group(0))
        elif not closing:
            stack.append(tag)
            out.append(f"<{tag}>")
        elif tag in stack:
            while stack:  # close anything opened inside it, so tags always nest
                top = stack.pop()
                out.append(f"</{top}>")
                if top == tag:
                    break
        # a closing tag never opened is dropped
    out.append(text[pos:])
    out.extend(f"</{t}>" for t in reversed(stack))
    return Markup("".join(out))


def md(value: object) -> str:
    """Text safe inside a Markdown paragraph or table cell on GitHub (one line, no markup)."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_block(value: object) -> str:
    """Like `md`, for text that starts a line (a list marker or heading there would be read as one)."""
    return _MD_LINE_START.sub(r"\1\\\2", md(value))


def md_code(value: object) -> str:
    """Inline code span that survives backticks in the text."""
    text = " ".join(str(value or "").split())
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else ""


def md_url(url: str | None) -> str:
    """A link target for Markdown: no spaces or parentheses that would end it early."""
    if not url:
        return ""
    return (
        url.replace(" ", "%20")
        .replace("(", "%28")
        .replace(")", "%29")
        .replace("<", "%3C")
        .replace(">", "%3E")
    )


def when(value: object) -> str:
    """An ISO timestamp from the store (UTC) as people read it; dates stay dates."""
    if not value:
        return ""
    text = str(value)
    if "T" not in text:
        return text
    day, time = text.split("T", 1)
    return f"{day} {time[:5]} UTC"


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else ("—" if value is None else str(value))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        inline_html=inline_html,
        md=md,
        md_block=md_block,
        md_code=md_code,
        md_url=md_url,
        number=_number,
        when=when,
        matrix_chart=lambda m: Markup(matrix_chart(m)),
        ratings_chart=lambda r: Markup(ratings_chart(r)),
    )
    env.globals["direction_colors"] = DIRECTION_COLORS
    return env


def render_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _render(prefix: str, name: str, data: dict[str, Any]) -> dict[str, str]:
    env = environment()
    return {
        "html": env.get_template(f"{prefix}.html.j2").render({name: data}),
        "md": env.get_template(f"{prefix}.md.j2").render({name: data}),
        "json": render_json(data),
    }


def render_claim(report: dict[str, Any]) -> dict[str, str]:
    """{'html': ..., 'md': ..., 'json': ...} for one claim's report."""
    return _render("claim", "r", report)


def render_scorecard(scorecard: dict[str, Any]) -> dict[str, str]:
    """{'html': ..., 'md': ..., 'json': ...} for the article scorecard."""
    return _render("index", "s", scorecard)
