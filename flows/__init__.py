"""litgrade: literature-evidence curation pipeline (PubMed → DuckDB → graded evidence reports)."""

__version__ = "0.1.0"
