"""Outside text to HTML: only the parser's safe inline subset survives as markup, the rest is text.

The parser already writes `title_html` / section `html` in a safe subset (i, b, sup, sub, u without
attributes), but the store is outside input too (a mirror, an old record), so every string is
re-serialised here before it reaches a page: an allow-listed tag with no attributes passes through
(balanced), any other tag-like text — `<script>`, `<img onerror=...>`, `<i class=x>` — is shown as
literal text. Query-term highlighting happens on the text runs only, so it can never split a tag.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from markupsafe import Markup

ALLOWED_TAGS = frozenset({"i", "b", "sup", "sub", "u"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)>")
_ANY_TAG = re.compile(r"<[^<>]*>")
# PubMed query syntax that is not a search word.
_FIELD_TAG = re.compile(r"\[[^\]]*\]")
_OPERATORS = frozenset({"and", "or", "not"})
_WORD = re.compile(r"[\w][\w\-']*\*?", re.UNICODE)
MIN_TERM_LENGTH = 3


def query_terms(query: str) -> tuple[str, ...]:
    """The words of a PubMed query worth highlighting: no field tags, operators, or tiny words.

    A trailing `*` (truncation) is kept so `highlighter` can match the prefix.
    """
    text = _FIELD_TAG.sub(" ", query)
    seen: dict[str, None] = {}
    for match in _WORD.finditer(text):
        word = match.group(0).strip("'")
        if word.lower() in _OPERATORS or len(word.rstrip("*")) < MIN_TERM_LENGTH:
            continue
        if word.replace("*", "").isdigit():
            continue  # years and numbers would light up every date
        seen.setdefault(word.lower(), None)
    return tuple(seen)


def highlighter(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for all terms (longest first), or None when there are none."""
    parts = []
    for term in sorted(set(terms), key=len, reverse=True):
        if term.endswith("*"):
            parts.append(re.escape(term.rstrip("*")) + r"\w*")
        else:
            parts.append(re.escape(term))
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _highlight(text: str, pattern: re.Pattern[str] | None) -> str:
    if pattern is None:
        return html.escape(text, quote=False)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[last : match.start()], quote=False))
        out.append(f"<mark>{html.escape(match.group(0), quote=False)}</mark>")
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def _text_html(raw: str, pattern: re.Pattern[str] | None) -> str:
    # Entities from the parser's html are decoded first so escaping is applied exactly once.
    return _highlight(html.unescape(raw), pattern)


def safe_markup(fragment: str | None, pattern: re.Pattern[str] | None = None) -> Markup:
    """Re-serialise `fragment` keeping only balanced, attribute-free i/b/sup/sub/u tags."""
    if not fragment:
        return Markup("")
    out: list[str] = []
    stack: list[str] = []
    last = 0
    for match in _ANY_TAG.finditer(fragment):
        out.append(_text_html(fragment[last : match.start()], pattern))
        last = match.end()
        token = match.group(0)
        tag = _TAG.fullmatch(token)
        name = tag.group(2).lower() if tag else ""
        if tag and name in ALLOWED_TAGS:
            if not tag.group(1):
                stack.append(name)
                out.append(f"<{name}>")
                continue
            if name in stack:
                # Close whatever was left open inside it, so markup never leaks past its element.
                while stack:
                    top = stack.pop()
                    out.append(f"</{top}>")
                    if top == name:
                        break
                continue
        out.append(_text_html(token, None))
    out.append(_text_html(fragment[last:], pattern))
    out.extend(f"</{name}>" for name in reversed(stack))
    return Markup("".join(out))


def safe_text(text: str | None, pattern: re.Pattern[str] | None = None) -> Markup:
    """Plain text (no markup allowed at all), escaped, with optional highlighting."""
    return Markup(_highlight(text, pattern)) if text else Markup("")


def pick_html(markup: str | None, text: str, pattern: re.Pattern[str] | None) -> Markup:
    """The safe markup when the parser gave some, else the clean text."""
    return safe_markup(markup, pattern) if markup else safe_text(text, pattern)
