"""Exports that travel: a project's studies as RIS and BibTeX (reference managers) and CSV (spreadsheets).

study.py builds the rows (pure), ris.py / bibtex.py / table.py turn them into text with rispy,
bibtexparser and the csv module, write.py reads the store and the grade files and writes the text.
"""
