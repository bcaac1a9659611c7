"""Outside text → Markup for the templates: flows.pubmed.markup's allow-list, query terms in <mark>.

Every string that may carry markup reaches a page through here (flows.web.views), so templates only
ever print Markup built by the allow-list or plain text Jinja escapes itself.
"""

from __future__ import annotations

import re

from markupsafe import Markup

from flows.pubmed import markup
from flows.pubmed.highlight import mark


def _marked(pattern: re.Pattern[str] | None) -> markup.TextHtml:
    def text_html(text: str) -> str:
        return mark(text, pattern, lambda s: f"<mark>{markup.escape_text(s)}</mark>", markup.escape_text)

    return text_html


def safe_markup(fragment: str | None, pattern: re.Pattern[str] | None = None) -> Markup:
    """Stored inline markup re-serialised to the safe subset, query terms marked in its text."""
    return Markup(markup.safe_inline(fragment, _marked(pattern)))


def safe_text(text: str | None, pattern: re.Pattern[str] | None = None) -> Markup:
    """Plain text (no markup allowed at all), escaped, query terms marked."""
    return Markup(_marked(pattern)(text)) if text else Markup("")


def pick_html(fragment: str | None, text: str, pattern: re.Pattern[str] | None) -> Markup:
    """The safe markup when the parser gave some, else the clean text."""
    return Markup(markup.inline_html(fragment, text, _marked(pattern)))
