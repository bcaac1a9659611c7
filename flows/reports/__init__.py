"""Evidence reports: the report model (pure), HTML/Markdown/JSON rendering, SVG charts, the digest, and
writing.
"""
