"""The curator web app (`litgrade serve`): sign-in, screening, conflicts, history, search.

app.py (routes) · auth.py (passwords, sessions, CSRF) · data.py (grades files and store reads,
cached) · grading_view.py (page data from flows.curation.review) · views.py (records → display) ·
sanitize.py (allow-list re-serialiser, highlighting) ·
templates/ · static/ (app.js, app.css, vendored htmx 2.0.11).
"""
