"""Which source a refresh reads, as a value: `EutilsSpec` (E-utilities, live or a stand-in) or
`MirrorSpec` (a local mirror file).

A spec is built from the environment once, at the edge (`flows.config.source_spec`), and handed to the
flows as a parameter; tasks receive it and open the source from it, in this process or in a Dask worker.
So a spec is frozen (hashable: one open source per spec and process), picklable and JSON-able. The API
key is a `SecretStr`: Prefect records flow parameters on its server, and the key must not be among them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic.dataclasses import dataclass

NCBI_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
TOOL_NAME = "litgrade"

SourceKind = Literal["eutils", "mirror"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("eutils", "mirror")


@dataclass(frozen=True)
class EutilsSpec:
    """How to reach E-utilities: base URL, the contact e-mail NCBI requires, an optional API key, an
    optional request ceiling below NCBI's (`rate`, requests/s), and whether the Prefect server holds
    the pace for every process (`global_pace`, flows/pipeline/global_pace.py)."""

    base_url: str
    email: str
    api_key: SecretStr | None = None
    tool: str = TOOL_NAME
    rate: float | None = None
    global_pace: bool = False
    kind: Literal["eutils"] = "eutils"

    @property
    def is_live_ncbi(self) -> bool:
        return self.base_url.rstrip("/") == NCBI_EUTILS_URL.rstrip("/")

    @property
    def key(self) -> str | None:
        """The API key itself, for the request that carries it."""
        return self.api_key.get_secret_value() if self.api_key else None

    @property
    def max_requests_per_second(self) -> float:
        """NCBI's rule: 3 requests/s without an API key, 10 with one; `rate` may lower it."""
        ceiling = 10.0 if self.api_key else 3.0
        return min(ceiling, self.rate) if self.rate else ceiling


@dataclass(frozen=True)
class MirrorSpec:
    """A local PubMed mirror file (built by `litgrade mirror ingest`)."""

    path: Path
    kind: Literal["mirror"] = "mirror"


SourceSpec = Annotated[EutilsSpec | MirrorSpec, Field(discriminator="kind")]
