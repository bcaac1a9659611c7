"""Domain errors: each carries one clear message saying where the problem is and what to do.

The CLI turns any LitgradeError into that message and exit code 2 (never a traceback).
"""

from __future__ import annotations


class LitgradeError(Exception):
    """Base class for errors a user can fix."""

    exit_code = 2


class InputError(LitgradeError):
    """A file a person wrote is invalid (names file, line, field)."""


class ConfigError(LitgradeError):
    """The environment or configuration is missing something."""


class StoreBusyError(LitgradeError):
    """The DuckDB file stayed locked by another process past the retry window."""

    exit_code = 3


class FetchError(LitgradeError):
    """NCBI (or the configured E-utilities) could not be reached or answered with an error."""

    exit_code = 4
