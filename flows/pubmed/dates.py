"""PubMed dates → sortable ISO dates with a precision.

``PubDate`` comes in three shapes: Year/Month/Day, Year + Season, or free-text MedlineDate
("1998 Dec-1999 Jan", "2015 Oct-Dec", "2000 Spring", "1976-1977", "2008 Jul 15-21", "Dec 1999").
The sort date is the first day of the period; the precision says how much of it PubMed really gave.

Seasons start on the first month they name: Spring → March, Summer → June, Fall/Autumn → September,
Winter → January (a "Winter" issue carries the year it ends in, and "Winter-Spring" must sort before
spring). A season or month range is reported with precision "month" because its start month is known.

Search windows and [dp]/[edat] terms use date *bounds* (`date_bound`): ``YYYY``, ``YYYY/MM`` or
``YYYY/MM/DD`` as the first day they cover, or the last one for the end of a window.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from flows.pubmed.records import DatePrecision, PubDate

MONTHS = {
    name: i
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 1}
_QUARTERS = {"1st": 1, "2nd": 4, "3rd": 7, "4th": 10, "first": 1, "second": 4, "third": 7, "fourth": 10}

_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2\d\d\d)(?!\d)")
_WORD = re.compile(r"[A-Za-z]+")
_DAY = re.compile(r"\s*(\d{1,2})(?!\d)")
_QUARTER = re.compile(r"\s*(1st|2nd|3rd|4th|first|second|third|fourth)\s+quart", re.IGNORECASE)
_BOUND = re.compile(r"(\d{4})(?:[/-](\d{1,2})(?:[/-](\d{1,2}))?)?")


def month_number(value: str | None) -> int | None:
    """ "Sep", "September", "09", "9" → 9; anything else → None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        number = int(value)
        return number if 1 <= number <= 12 else None
    return MONTHS.get(value[:3].lower())


def season_month(value: str | None) -> int | None:
    """First month of a season or a month range: "Winter-Spring" → 1, "Jan-Mar" → 1, "May-Jun" → 5."""
    if not value:
        return None
    first = _WORD.match(value.strip())
    if not first:
        return None
    word = first.group(0).lower()
    return SEASONS.get(word) or MONTHS.get(word[:3])


def _build(raw: str, year: int, month: int | None, day: int | None) -> PubDate:
    precision: DatePrecision = "year"
    sort = dt.date(year, 1, 1)
    if month:
        precision, sort = "month", dt.date(year, month, 1)
        if day:
            try:
                sort = dt.date(year, month, day)
                precision = "day"
            except ValueError:
                pass  # "Feb 30" keeps the month it names
    return PubDate(raw=raw, sort_date=sort.isoformat(), precision=precision)


def pub_date(
    year: str | None = None,
    month: str | None = None,
    day: str | None = None,
    season: str | None = None,
    medline_date: str | None = None,
) -> PubDate:
    """Normalise one PubDate element's parts (strings as they appear in the XML)."""
    if medline_date and not year:
        return parse_medline_date(medline_date)
    raw = " ".join(p.strip() for p in (year, month or season, day) if p and p.strip())
    if not year or not year.strip().isdigit():
        return parse_medline_date(raw) if raw else PubDate()
    day_number = int(day) if day and day.strip().isdigit() else None
    start = month_number(month) if month else season_month(season)
    return _build(raw, int(year), start, day_number if month else None)


def parse_medline_date(raw: str) -> PubDate:
    """Free-text MedlineDate → start of the period it names."""
    raw = " ".join(raw.split())
    found = _YEAR.search(raw)
    if not found:
        return PubDate(raw=raw)
    year = int(found.group(1))
    after = raw[found.end() :]
    quarter = _QUARTER.match(after)
    if quarter:
        return _build(raw, year, _QUARTERS[quarter.group(1).lower()], None)
    word = _WORD.match(after.lstrip())
    if word:
        month = season_month(word.group(0))
        if month:
            rest = after.lstrip()[word.end() :]
            day = _DAY.match(rest) if word.group(0)[:3].lower() in MONTHS else None
            return _build(raw, year, month, int(day.group(1)) if day else None)
        return _build(raw, year, None, None)
    # "Dec 1999-Jan 2000": the month is written before the year.
    before = _WORD.findall(raw[: found.start()])
    month = season_month(before[-1]) if before else None
    return _build(raw, year, month, None)


def iso_date(year: str | None, month: str | None, day: str | None) -> str | None:
    """A full Year/Month/Day (ArticleDate, DateRevised) → ISO; None when incomplete or impossible."""
    if not (year and year.strip().isdigit()):
        return None
    month_value = month_number(month)
    if month_value is None or not (day and day.strip().isdigit()):
        return None
    try:
        return dt.date(int(year), month_value, int(day)).isoformat()
    except ValueError:
        return None


def iso_day(value: str | None) -> dt.date | None:
    """An ISO date string as stored in records ("2020-11-20", or longer) → date; None when absent or bad."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def date_bound(text: str, *, end: bool) -> dt.date | None:
    """``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD`` ('-' also separates) as the first day it covers, or the
    last when `end` (2020/02 → 2020-02-29); None when it is not that shape or not a real day.

    Callers raise their own error (a query column, a fetch parameter): the message is theirs."""
    match = _BOUND.fullmatch(text.strip())
    if not match:
        return None
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else (12 if end else 1)
    if not 1 <= month <= 12:
        return None
    last = calendar.monthrange(year, month)[1]
    day = int(match.group(3)) if match.group(3) else (last if end else 1)
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
