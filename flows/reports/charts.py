"""Inline SVG charts for reports: no JavaScript, no external resources, every text escaped.

Charts scale with their container (viewBox + width 100%) so they stay readable on a phone, and carry
a <title> per mark so a screen reader or a hover tells the number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

DIRECTION_COLORS = {
    "supports": "#1a7f37",
    "contradicts": "#cf222e",
    "no_effect": "#bc4c00",
    "mixed": "#8250df",
    "unclear": "#8c959f",
}
FALLBACK_COLOR = "#57606a"
LABEL_WIDTH = 230
BAR_WIDTH = 360
ROW_HEIGHT = 26
TEXT = 'fill="#24292f"'
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:12px"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _open(width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{_e(label)}" style="{FONT};max-width:{width}px">'
        f"<title>{_e(label)}</title>"
    )


def _legend(items: Sequence[tuple[str, str]], y: int) -> str:
    parts, x = [], LABEL_WIDTH
    for label, color in items:
        parts.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{y + 9}" fill="#24292f">{_e(label)}</text>'
        )
        x += 24 + 7 * len(label)
    return "".join(parts)


def matrix_chart(matrix: Mapping[str, Any]) -> str:
    """Level × direction as stacked horizontal bars, strongest level on top."""
    directions = matrix["directions"]
    rows = [r for r in matrix["levels"] if r["primary"] or r["total"]]
    biggest = max([r["total"] for r in rows] + [1])
    height = ROW_HEIGHT * len(rows) + 34
    out = [_open(LABEL_WIDTH + BAR_WIDTH + 40, height, "Evidence matrix: studies by level and direction")]
    for i, row in enumerate(rows):
        y = i * ROW_HEIGHT + 4
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" {TEXT}>{_e(row["label"])}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{BAR_WIDTH}" height="20" fill="#f6f8fa"/>'
        )
        x = float(LABEL_WIDTH)
        for d in directions:
            n = row["counts"][d["id"]]
            if not n:
                continue
            w = BAR_WIDTH * n / biggest
            color = DIRECTION_COLORS.get(d["id"], FALLBACK_COLOR)
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="20" fill="{color}">'
                f"<title>{_e(row['label'])} · {_e(d['label'])}: {n}</title></rect>"
            )
            if w >= 14:
                out.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 14}" text-anchor="middle" fill="#fff">{n}</text>'
                )
            x += w
        out.append(
            f'<text x="{LABEL_WIDTH + BAR_WIDTH + 6}" y="{y + 15}" fill="#24292f">{row["total"]}</text>'
        )
    legend = [(d["label"], DIRECTION_COLORS.get(d["id"], FALLBACK_COLOR)) for d in directions]
    out.append(_legend(legend, height - 18))
    out.append("</svg>")
    return "".join(out)


def ratings_chart(ratings: Sequence[Mapping[str, Any]]) -> str:
    """How many of the article's claims got each rating, best rating on top."""
    biggest = max([r["n"] for r in ratings] + [1])
    height = ROW_HEIGHT * len(ratings) + 8
    total = sum(r["n"] for r in ratings)
    out = [_open(LABEL_WIDTH + BAR_WIDTH + 40, height, f"Ratings of the article's {total} claims")]
    for i, r in enumerate(ratings):
        y = i * ROW_HEIGHT + 4
        w = BAR_WIDTH * r["n"] / biggest
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" {TEXT}>{_e(r["label"])}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{BAR_WIDTH}" height="20" fill="#f6f8fa"/>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{w:.1f}" height="20" fill="{_e(r["color"])}">'
            f"<title>{_e(r['label'])}: {r['n']} claim(s)</title></rect>"
            f'<text x="{LABEL_WIDTH + w + 6:.1f}" y="{y + 15}" fill="#24292f">{r["n"]}</text>'
        )
    out.append("</svg>")
    return "".join(out)
