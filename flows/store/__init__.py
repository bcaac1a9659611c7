"""The DuckDB store: the only package that imports duckdb. One module per table family."""
