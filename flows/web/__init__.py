"""The curator web app (`litgrade serve`): sign-in, screening, conflicts, history, search.

app.py (the app factory: middleware, error pages) · routes/ (one APIRouter per page family) ·
deps.py (Depends: session, CSRF, claim, adjudicator role, grade form) · pages.py (the app's state,
rendering) · auth.py (passwords, sessions, CSRF tokens) · signin_limits.py (sign-in attempt limits) ·
data.py (grades files and store reads, cached) · grading_view.py (page data from flows.curation.review) ·
views.py (records → display) ·
sanitize.py (Markup from flows.pubmed.markup's allow-list, query terms in <mark>) ·
templates/ · static/ (app.js, app.css, vendored htmx 2.0.11).
"""
