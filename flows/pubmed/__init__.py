"""PubMed as data: typed records, the streaming XML parser, inline text, dates, and the query language (pure:
no I/O).
"""
