"""Report data → HTML, Markdown and JSON text (Jinja2 templates in flows/reports/templates/).

HTML templates autoescape everything; the only markup let through from outside data is the parser's
inline subset (flows.pubmed.markup), re-sanitised because the store is outside input too. Markdown
output escapes what GitHub would otherwise read as markup or raw HTML.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from flows.pubmed import markup
from flows.reports.charts import DIRECTION_COLORS, matrix_chart, ratings_chart
from flows.reports.prisma import prisma_svg
from flows.reports.sof import participants_text, sof_csv, sof_markdown, studies_text

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()|~!{}#])")
_MD_LINE_START = re.compile(r"^(\s*)([-+>=]|\d+[.)])")


@lru_cache(maxsize=16384)
def inline_html(stored: str | None, fallback: str = "") -> Markup:
    """Stored inline HTML reduced to the parser's safe subset (flows.pubmed.markup), else the plain
    `fallback` text escaped. Cached: a study's title recurs in every claim that includes it."""
    return Markup(markup.inline_html(stored, fallback))


def md(value: object) -> str:
    """Text safe inside a Markdown paragraph or table cell on GitHub (one line, no markup)."""
    return "" if value is None else _md_text(str(value))


@lru_cache(maxsize=16384)
def _md_text(value: str) -> str:
    """md's work, cached: labels, journals, curators and notes recur in every study of every claim."""
    text = " ".join(value.split())
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


def shared_links(studies: list[dict[str, Any]]) -> Markup:
    """A scorecard row's studies shared with other claims: `<a href="#shared-PMID">PMID</a> (also N)`,
    comma-separated. A filter, not a template loop: with 1,000 claims sharing ~160 studies each, the
    loop was most of the scorecard's render time."""
    return Markup(
        ", ".join(
            f'<a href="#shared-{escape(x["pmid"])}">{escape(x["pmid"])}</a> (also {len(x["also_in"])})'
            for x in studies
        )
    )


def claim_links_html(claims: list[str]) -> Markup:
    """`<a href="CLAIM.html">CLAIM</a>, …` (a filter for the same reason as shared_links)."""
    return Markup(", ".join(f'<a href="{c}.html">{c}</a>' for c in map(escape, claims)))


def claim_links_md(claims: list[str]) -> str:
    """`[CLAIM](CLAIM.md), …`: claim ids are slugs, as the template wrote them."""
    return ", ".join(f"[{c}]({c}.md)" for c in claims)


def html_pmid_link(pmid: object, url: str | None) -> Markup:
    """`<a href="URL">PMID n</a>`, or the bare "PMID n" without a link. Python, not a template macro:
    a Jinja macro call costs more than the markup it writes, and there is one per listed record."""
    if url:
        return Markup(f'<a href="{escape(url)}">PMID {escape(pmid)}</a>')
    return Markup(f"PMID {escape(pmid)}")


def html_flags(record: dict[str, Any]) -> Markup:
    """The retraction / expression-of-concern badges after a listed record (see html_pmid_link)."""
    out = ' <span class="flag">Retracted</span>' if record["retracted"] else ""
    if record["expression_of_concern"]:
        out += ' <span class="flag">Expression of concern</span>'
    return Markup(out)


def md_pmid_link(pmid: object, url: str | None) -> str:
    """`[PMID n](URL)`, or "PMID n" without a link (see html_pmid_link)."""
    return f"[PMID {pmid}]({url})" if url else f"PMID {md(pmid)}"


def md_flags(record: dict[str, Any]) -> str:
    """The retraction / expression-of-concern marks after a listed record (see html_pmid_link)."""
    out = " **⚠ RETRACTED**" if record["retracted"] else ""
    return out + (" **⚠ EXPRESSION OF CONCERN**" if record["expression_of_concern"] else "")


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else ("—" if value is None else str(value))


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _DataEnvironment(Environment):
    """Templates read report data, which is dicts: `r.claim.id` looks the key up first. Jinja's own
    getattr tries the Python attribute first and raises an AttributeError for every such lookup (a
    quarter of a claim's template time). Names that are dict attributes (`.get`, `.items`) still
    resolve as Jinja resolves them, so every lookup means what it meant."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = _DataEnvironment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # templates compiled once per process (this Environment is cached): no stat of every template
        # file at each render, and a process renders with the templates renderer_id() hashed
        auto_reload=False,
    )
    env.filters.update(
        inline_html=inline_html,
        md=md,
        md_block=md_block,
        md_code=md_code,
        md_url=md_url,
        number=_number,
        shared_links=shared_links,
        claim_links_html=claim_links_html,
        claim_links_md=claim_links_md,
        when=when,
        matrix_chart=lambda m: Markup(matrix_chart(m)),
        ratings_chart=lambda r: Markup(ratings_chart(r)),
        sof_studies=studies_text,
        sof_participants=participants_text,
        prisma_svg=lambda r: Markup(prisma_svg(r)),
    )
    env.globals.update(
        direction_colors=DIRECTION_COLORS,
        html_pmid_link=html_pmid_link,
        html_flags=html_flags,
        md_pmid_link=md_pmid_link,
        md_flags=md_flags,
    )
    return env


def render_json(data: Any) -> str:
    """The JSON file: sorted keys, two-space indent, UTF-8 text (json.dumps's sort_keys, indent=2,
    ensure_ascii=False). orjson writes the same bytes for report data (strings, ints, bools, None;
    no floats) ~30× faster: with an indent, json.dumps runs its pure-Python encoder, which was 40%
    of a claim's render. Data orjson refuses (non-string keys, huge ints) goes through json."""
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode("utf-8") + "\n"
    except TypeError:  # orjson.JSONEncodeError is a TypeError
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


def render_sof(report: dict[str, Any]) -> dict[str, str]:
    """{'sof.csv': ..., 'sof.md': ...}: the claim's Summary-of-Findings table as files (issue 18)."""
    return {
        "sof.csv": sof_csv(report["sof"]),
        "sof.md": sof_markdown(report["sof"], report["claim"]["text"], md),
    }


def render_scorecard(scorecard: dict[str, Any]) -> dict[str, str]:
    """{'html': ..., 'md': ..., 'json': ...} for the article scorecard."""
    return _render("index", "s", scorecard)
