"""The safe inline-HTML subset of PubMed text, and re-serialising stored markup into it (pure).

The parser (flows.pubmed.text) emits only SAFE_TAGS, balanced and without attributes. The store is
outside input too (a mirror, an old record), so the web app and the reports pass every stored
fragment through `safe_inline` before it reaches a page:

* an allow-listed tag without attributes passes through (any case in, lower case out), kept
  balanced: a closer shuts whatever was opened inside it, an unclosed tag is closed at the end, and
  a closer nothing opened is dropped (as a browser would; it carries no text);
* any other tag-like text (`<script>`, `<img onerror=...>`, `<i class=x>`) is shown as text;
* entities are decoded once and every text run is escaped again, quotes included, so the result is
  safe wherever a template puts it (text or an attribute).

Text runs go through `text_html`, so a caller can mark query terms there without ever splitting a tag.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

SAFE_TAGS = frozenset({"i", "b", "u", "sup", "sub"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)>")
_ANY_TAG = re.compile(r"<[^<>]*>")

TextHtml = Callable[[str], str]


def escape_text(text: str) -> str:
    """Plain text as HTML: `& < > " '` escaped."""
    return html.escape(text, quote=True)


def safe_inline(fragment: str | None, text_html: TextHtml = escape_text) -> str:
    """`fragment` re-serialised keeping only balanced, attribute-free SAFE_TAGS; the rest is text."""
    if not fragment:
        return ""
    out: list[str] = []
    stack: list[str] = []
    last = 0

    def text(raw: str) -> None:
        if raw:
            out.append(text_html(html.unescape(raw)))

    for match in _ANY_TAG.finditer(fragment):
        text(fragment[last : match.start()])
        last = match.end()
        tag = _TAG.fullmatch(match.group(0))
        name = tag.group(2).lower() if tag else ""
        if tag is None or name not in SAFE_TAGS:
            out.append(escape_text(html.unescape(match.group(0))))  # never highlighted: not prose
        elif not tag.group(1):
            stack.append(name)
            out.append(f"<{name}>")
        elif name in stack:
            while stack:
                top = stack.pop()
                out.append(f"</{top}>")
                if top == name:
                    break
    text(fragment[last:])
    out.extend(f"</{name}>" for name in reversed(stack))
    return "".join(out)


def inline_html(markup: str | None, text: str | None, text_html: TextHtml = escape_text) -> str:
    """The stored markup made safe when there is some, else the plain text escaped."""
    if markup:
        return safe_inline(markup, text_html)
    return text_html(text) if text else ""
