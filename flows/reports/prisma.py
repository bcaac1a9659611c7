"""A claim's PRISMA 2020 flow diagram, updated-review form, drawn from the report's own data (pure).

Every number comes from the claim report (reports.model): its `prisma` block (the PRISMA table of the
HTML and Markdown reports) and, for "previous" and "new" studies, its `changes` block. So the diagram,
the table and the JSON cannot disagree. Each number in the SVG carries `data-key` naming the field it
shows. litgrade screens each record once, on title and abstract, with a reason for every exclusion:
"reports assessed" are the records with a final decision, "reports excluded" their exclusions by reason.

Also the same numbers as the PRISMA2020 Shiny app's CSV input (github.com/prisma-flowdiagram/PRISMA2020,
inst/extdata/PRISMA.csv: columns data,node,box,description,boxtext,tooltips,url,n), labels ours.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

WIDTH = 780
BAND_X, BAND_W = 6, 26
PREV_X, PREV_W = 40, 176
MAIN_X, MAIN_W = 232, 262
EXCL_X, EXCL_W = 512, 262
LINE = 16
PAD = 10
GAP = 22
MAX_RUNS = 6  # runs listed one by one; the rest summed in one line
MAX_CHARS = 40
MIN_ROW = 92  # the identification row is at least as tall as its rotated stage label
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:12px"
BOX = 'fill="#ffffff" stroke="#57606a" stroke-width="1"'
HEAD_NEW = "#ffd966"  # PRISMA 2020: yellow for the new studies' column, grey for previous studies
HEAD_PREV = "#d0d7de"
BAND = "#9fc5e8"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _n(value: int) -> str:
    return f"{value:,}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"


def flow_numbers(report: Mapping[str, Any]) -> dict[str, Any]:
    """The diagram's numbers, all read from the report: its PRISMA block plus previous/new studies.

    Previous studies are those the previous report included and this one still does; new studies the
    ones it did not (all of them on a first report), so previous + new = total included."""
    p = report["prisma"]
    changes = report.get("changes") or {}
    new = p["included"] if changes.get("first_report", True) else len(changes.get("new_studies", []))
    new = min(new, p["included"])
    return {**p, "previous_studies": p["included"] - new, "new_studies": new}


@dataclass
class _Box:
    x: int
    w: int
    lines: list[tuple[str, str | None, bool]] = field(default_factory=list)  # text, data-key, bold

    def add(self, text: str, key: str | None = None, *, bold: bool = False) -> _Box:
        self.lines.append((text, key, bold))
        return self

    @property
    def height(self) -> int:
        return PAD * 2 + LINE * len(self.lines) - 4

    def svg(self, y: int) -> str:
        out = [f'<rect x="{self.x}" y="{y}" width="{self.w}" height="{self.height}" rx="3" {BOX}/>']
        for i, (text, key, bold) in enumerate(self.lines):
            attrs = f' data-key="{_e(key)}"' if key else ""
            weight = ' font-weight="600"' if bold else ""
            full = f"<title>{_e(text)}</title>" if _short(text) != text else ""
            out.append(
                f'<text x="{self.x + PAD}" y="{y + PAD + 8 + i * LINE}" fill="#24292f"{weight}{attrs}>'
                f"{full}{_e(_short(text))}</text>"
            )
        return "".join(out)


def _counted(label: str, n: int, key: str) -> _Box:
    return _Box(MAIN_X, MAIN_W).add(label, bold=True).add(f"(n = {_n(n)})", key)


def _arrow(x1: float, y1: float, x2: float, y2: float, marker: str) -> str:
    return (
        f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#57606a" stroke-width="1.2" '
        f'marker-end="url(#{marker})"/>'
    )


def _runs(box: _Box, runs: Sequence[Mapping[str, Any]]) -> None:
    for run in runs[:MAX_RUNS]:
        date = str(run.get("date") or "")[:10] or "date unknown"
        box.add(f"PubMed run {run['run_id']} ({date}): n = {_n(run['n'])}", f"run:{run['run_id']}")
    rest = runs[MAX_RUNS:]
    if rest:
        box.add(f"{len(rest)} earlier run(s): n = {_n(sum(r['n'] for r in rest))}", "runs:rest")


def prisma_svg(report: Mapping[str, Any]) -> str:
    """The flow diagram as one standalone SVG element (inline in HTML, or a .svg file as it is)."""
    nums = flow_numbers(report)
    claim_id = str(report["claim"]["id"])
    marker = "prisma-arrow-" + "".join(c if c.isalnum() or c == "-" else "-" for c in claim_id)
    rows: list[tuple[str, _Box, _Box | None]] = []

    ident = _counted("Records identified from PubMed", nums["identified_total"], "identified_total")
    _runs(ident, nums["identified_per_run"])
    dupes = (
        _Box(EXCL_X, EXCL_W)
        .add("Records removed before screening:", bold=True)
        .add(f"Duplicate records (n = {_n(nums['duplicates'])})", "duplicates")
        .add("(found again by a later run)")
    )
    rows.append(("identification", ident, dupes))
    waiting = (
        _Box(EXCL_X, EXCL_W)
        .add("Records not yet decided:", bold=True)
        .add(f"Awaiting grading (n = {_n(nums['awaiting_grading'])})", "awaiting_grading")
        .add(f"In conflict, to adjudicate (n = {_n(nums['in_conflict'])})", "in_conflict")
    )
    rows.append(("screening", _counted("Records screened", nums["unique"], "unique"), waiting))
    missing = (
        _Box(EXCL_X, EXCL_W)
        .add("Reports not retrieved", bold=True)
        .add(f"(n = {_n(nums['not_retrieved'])})", "not_retrieved")
        .add("(record not yet fetched from PubMed)")
    )
    rows.append(("screening", _counted("Reports sought for retrieval", nums["unique"], "unique"), missing))
    excluded = _Box(EXCL_X, EXCL_W).add("Reports excluded:", bold=True)
    excluded.add(f"(n = {_n(nums['excluded_total'])})", "excluded_total")
    for reason in nums["excluded_by_reason"]:
        excluded.add(f"{reason['label']} (n = {_n(reason['n'])})", f"excluded:{reason['reason']}")
    assessed = _counted("Reports assessed for eligibility", nums["screened"], "screened")
    rows.append(("screening", assessed, excluded))
    new = _counted("New studies included in review", nums["new_studies"], "new_studies")
    rows.append(("included", new, None))
    total = _counted("Total studies included in review", nums["included"], "included")
    if nums["included_retracted"]:
        total.add(f"of which retracted, not counted: {_n(nums['included_retracted'])}", "included_retracted")
    rows.append(("included", total, None))

    body: list[str] = []
    y = 8
    body.append(
        f'<rect x="{PREV_X}" y="{y}" width="{PREV_W}" height="30" rx="3" fill="{HEAD_PREV}"/>'
        f'<text x="{PREV_X + PREV_W / 2}" y="{y + 19}" text-anchor="middle" font-weight="600" '
        f'fill="#24292f">Previous studies</text>'
        f'<rect x="{MAIN_X}" y="{y}" width="{EXCL_X + EXCL_W - MAIN_X}" height="30" rx="3" '
        f'fill="{HEAD_NEW}"/>'
        f'<text x="{(MAIN_X + EXCL_X + EXCL_W) / 2}" y="{y + 19}" text-anchor="middle" font-weight="600" '
        f'fill="#24292f">Identification of new studies via PubMed (litgrade search runs)</text>'
    )
    y += 30 + GAP
    bands: dict[str, list[int]] = {}
    places: list[tuple[int, int, _Box]] = []
    for stage, main, side in rows:
        height = max(main.height, side.height if side else 0, MIN_ROW if stage == "identification" else 0)
        top = y
        body.append(main.svg(top))
        if side is not None:
            body.append(side.svg(top))
            mid = top + main.height / 2
            body.append(_arrow(MAIN_X + MAIN_W, mid, EXCL_X - 2, mid, marker))
        if places:
            prev_top, _, prev_main = places[-1]
            body.append(
                _arrow(MAIN_X + MAIN_W / 2, prev_top + prev_main.height, MAIN_X + MAIN_W / 2, top - 2, marker)
            )
        places.append((top, height, main))
        band = bands.setdefault(stage, [top, top + height])
        band[1] = top + height
        y = top + height + GAP
    new_top = places[-2][0]
    total_top, _, total_box = places[-1]
    previous = (
        _Box(PREV_X, PREV_W).add("Studies included in", bold=True).add("previous version of", bold=True)
    )
    previous.add("review (last report)", bold=True).add(
        f"(n = {_n(nums['previous_studies'])})", "previous_studies"
    )
    body.append(previous.svg(new_top))
    px = PREV_X + PREV_W / 2
    ty = total_top + total_box.height / 2
    body.append(
        f'<polyline points="{px},{new_top + previous.height} {px},{ty} {MAIN_X - 2},{ty}" fill="none" '
        f'stroke="#57606a" stroke-width="1.2" marker-end="url(#{marker})"/>'
    )
    for stage, (top, bottom) in bands.items():
        label = stage.capitalize()
        cx, cy = BAND_X + BAND_W / 2, (top + bottom) / 2
        body.append(
            f'<rect x="{BAND_X}" y="{top}" width="{BAND_W}" height="{bottom - top}" rx="3" fill="{BAND}"/>'
            f'<text x="{cx}" y="{cy}" transform="rotate(-90 {cx} {cy})" text-anchor="middle" '
            f'dominant-baseline="middle" font-weight="600" fill="#24292f">{label}</text>'
        )
    height = int(y)
    title = f"PRISMA 2020 flow diagram (updated review) for claim {claim_id}"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-label="{_e(title)}" class="prisma-flow" style="{FONT};max-width:{WIDTH}px">'
        f"<title>{_e(title)}</title>"
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/>'
        f"</marker></defs>"
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>'
    )
    return head + "".join(body) + "</svg>"


def prisma_svg_file(report: Mapping[str, Any]) -> str:
    """The standalone .svg file: an XML declaration, the same SVG, a final newline."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + prisma_svg(report) + "\n"


# The PRISMA2020 app's CSV: (data, node, box) as its template names them, with our own labels.
_SHINY_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("NA", "node4", "prevstud", "Previous studies"),
    ("previous_studies", "node5", "box1", "Studies included in the previous litgrade report"),
    ("previous_reports", "NA", "box1", "Reports of studies included in the previous litgrade report"),
    ("NA", "node6", "newstud", "Identification of new studies via PubMed"),
    ("database_results", "node7", "box2", "PubMed"),
    ("database_specific_results", "NA", "box2", "PubMed search runs"),
    ("register_results", "NA", "box2", "Registers (not searched)"),
    ("register_specific_results", "NA", "box2", "Registers (not searched)"),
    ("NA", "node16", "othstud", "Identification of new studies via other methods (none)"),
    ("website_results", "node17", "box11", "Websites (not searched)"),
    ("organisation_results", "NA", "box11", "Organisations (not searched)"),
    ("citations_results", "NA", "box11", "Citation searching (not done)"),
    ("duplicates", "node8", "box3", "Duplicate records (found again by a later run)"),
    ("excluded_automatic", "NA", "box3", "Records marked ineligible by automation (none)"),
    ("excluded_other", "NA", "box3", "Records removed for other reasons (none)"),
    ("records_screened", "node9", "box4", "Records screened"),
    ("records_excluded", "node10", "box5", "Records excluded before retrieval (none: one screening)"),
    ("dbr_sought_reports", "node11", "box6", "Reports sought for retrieval"),
    ("dbr_notretrieved_reports", "node12", "box7", "Reports not retrieved (not yet fetched)"),
    ("other_sought_reports", "node18", "box12", "Reports sought for retrieval (other methods: none)"),
    ("other_notretrieved_reports", "node19", "box13", "Reports not retrieved (other methods: none)"),
    ("dbr_assessed", "node13", "box8", "Reports assessed for eligibility (final decision)"),
    ("dbr_excluded", "node14", "box9", "Reports excluded, by reason"),
    ("other_assessed", "node20", "box14", "Reports assessed (other methods: none)"),
    ("other_excluded", "node21", "box15", "Reports excluded (other methods: none)"),
    ("new_studies", "node15", "box10", "New studies included"),
    ("new_reports", "NA", "box10", "Reports of new included studies"),
    ("total_studies", "node22", "box16", "Total studies included"),
    ("total_reports", "NA", "box16", "Reports of total included studies"),
    ("identification", "node1", "identification", "Identification"),
    ("screening", "node2", "screening", "Screening"),
    ("included", "node3", "included", "Included"),
)


def prisma2020_csv(report: Mapping[str, Any]) -> str:
    """The claim's numbers as the PRISMA2020 Shiny app's CSV upload (one study = one report here)."""
    nums = flow_numbers(report)
    runs = "; ".join(
        f"PubMed run {r['run_id']} ({str(r.get('date') or '')[:10] or 'date unknown'}), {r['n']}"
        for r in nums["identified_per_run"]
    )
    reasons = "; ".join(f"{r['label'].replace(',', ' ')}, {r['n']}" for r in nums["excluded_by_reason"])
    n: dict[str, object] = {
        "previous_studies": nums["previous_studies"],
        "previous_reports": nums["previous_studies"],
        "database_results": nums["identified_total"],
        "database_specific_results": runs or "PubMed, 0",
        "duplicates": nums["duplicates"],
        "records_screened": nums["unique"],
        "dbr_sought_reports": nums["unique"],
        "dbr_notretrieved_reports": nums["not_retrieved"],
        "dbr_assessed": nums["screened"],
        "dbr_excluded": reasons or "none, 0",
        "new_studies": nums["new_studies"],
        "new_reports": nums["new_studies"],
        "total_studies": nums["included"],
        "total_reports": nums["included"],
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("data", "node", "box", "description", "boxtext", "tooltips", "url", "n"))
    for data, node, box, text in _SHINY_ROWS:
        writer.writerow((data, node, box, text, text, text if node != "NA" else "NA", "NA", n.get(data, 0)))
    return out.getvalue()
