"""PubMed inline markup → clean text and a safe HTML subset.

PubMed titles and abstracts carry inline tags (``<i> <b> <u> <sup> <sub>``) and MathML. Two renderings
come out of one walk over the element:

* **text** — markup dropped, whitespace collapsed. Tag boundaries never add spaces by themselves, so
  ``SnO<sub>2</sub>`` stays ``SnO2`` and ``H<sub>2</sub>O`` stays ``H2O``. One exception keeps words
  apart where NLM's XML lost the space: after a ``sub``/``sup`` that ends in a digit, sign or letter,
  a following lowercase word of two or more letters starts a new word (``SnO<sub>2</sub>thin`` →
  ``SnO2 thin``). Chemical formulas continue with an uppercase element symbol or punctuation, so they
  are left alone.
* **html** — only ``i b u sup sub`` survive as tags (never with attributes); every text character is
  escaped; MathML and unknown elements are flattened to their escaped text. Tags are always emitted
  balanced because they come from the element tree, so odd nesting in the source loses no text.
"""

from __future__ import annotations

import re

from lxml import etree
from markupsafe import escape as _markup_escape

from flows.pubmed.markup import SAFE_TAGS

_SCRIPT_TAGS = frozenset({"sup", "sub"})
_OPEN = {name: f"<{name}>" for name in SAFE_TAGS}
_CLOSE = {name: f"</{name}>" for name in SAFE_TAGS}
# A lowercase word right after a sub/superscript is a new word, not part of a formula.
_WORD_AFTER_SCRIPT = re.compile(r"[a-z]{2}")


def escape(value: str) -> str:
    """HTML-escape ``& < > " '`` (markupsafe's C escaper), skipped when there is nothing to escape."""
    if "&" in value or "<" in value or ">" in value or '"' in value or "'" in value:
        return str(_markup_escape(value))
    return value


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""  # comments, processing instructions, unresolved entities
    return tag.rpartition("}")[2]


def _ends_script(value: str) -> bool:
    last = value[-1:]
    return last.isalnum() or last in "+-−"


def clean(value: str | None) -> str:
    """Whitespace collapsed to single spaces, edges stripped."""
    if not value:
        return ""
    # One word (a name, an id, a number: most values the parser cleans) is already clean: no space and
    # printable means no character str.split() splits on (see the isprintable() note below).
    if " " not in value and value.isprintable():
        return value
    # Fast paths: most other values need only strip(). isascii() is O(1), and the only ASCII whitespace XML
    # text may hold is space, tab, newline and carriage return, each found by a C substring scan.
    if value.isascii():
        if "  " in value or "\n" in value or "\t" in value or "\r" in value:
            return " ".join(value.split())
        return value.strip()
    # isprintable() is False for every character str.split() splits on except the ASCII space (NBSP,
    # thin space, line separator...: checked over all code points), so a printable value without a
    # double space is already collapsed. One C pass, against building a list of every word.
    if value.isprintable() and "  " not in value:
        return value.strip()
    return " ".join(value.split())


def _walk(el: etree._Element, text: list[str], html: list[str]) -> None:
    # Every lxml .text/.tail/.tag read builds a new str, so each is read once into a local.
    value = el.text
    if value:
        text.append(value)
        html.append(escape(value))
    for child in el:
        tag = child.tag
        name = _local(tag) if not isinstance(tag, str) or "}" in tag else tag
        tail = child.tail
        if name in SAFE_TAGS:
            html.append(_OPEN[name])
            start = len(text)
            if len(child):
                _walk(child, text, html)
            elif value := child.text:  # most inline elements hold text only: no call for them
                text.append(value)
                html.append(escape(value))
            html.append(_CLOSE[name])
            if (
                tail
                and name in _SCRIPT_TAGS
                and len(text) > start
                and _ends_script(text[-1])
                and _WORD_AFTER_SCRIPT.match(tail)
            ):
                text.append(" ")
                html.append(" ")
        elif name:
            # MathML and unknown elements are flattened to their text. (Not itertext(): it yields an
            # unresolved entity as "&name;" text, and with a tag filter it drops the entity's tail.)
            parts: list[str] = []
            _flatten(child, parts)
            inner = "".join(parts)
            text.append(inner)
            html.append(escape(inner))
        if tail:
            text.append(tail)
            html.append(escape(tail))


def _flatten(el: etree._Element, parts: list[str]) -> None:
    value = el.text
    if value:
        parts.append(value)
    for child in el:
        if isinstance(child.tag, str):
            _flatten(child, parts)
        value = child.tail
        if value:
            parts.append(value)


def render(el: etree._Element | None) -> tuple[str, str]:
    """(clean text, safe html) of an element with inline markup; ("", "") for None."""
    if el is None:
        return "", ""
    if len(el) == 0:
        value = clean(el.text)
        return value, escape(value)
    text: list[str] = []
    html: list[str] = []
    _walk(el, text, html)
    return clean("".join(text)), clean("".join(html))


def plain(el: etree._Element | None) -> str:
    """Clean text only (for names, keywords and other short fields)."""
    if el is None:
        return ""
    if len(el) == 0:
        return clean(el.text)
    return render(el)[0]


# C0/C1 controls (escape sequences included) in outside text could drive a terminal or a spreadsheet;
# tab and newline stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str | None) -> str:
    """Outside text (titles, notes, claim text) with its control characters removed."""
    return _CONTROL.sub("", text or "")
