"""Open the source a spec names: the one place the flows turn a `SourceSpec` into a `SearchSource`.

One source per spec per process: every task of a run shares its rate limiter and connection pool.
Tasks receive the spec, not the object, so they can run in other processes (Dask workers), which open
their own from it. A run starts from fresh sources (`reset_sources`), so its traffic figures are its
own and a mirror rebuilt since the last run is read anew.
"""

from __future__ import annotations

import threading

from flows import config
from flows.sources.protocol import SearchSource
from flows.sources.spec import EutilsSpec, MirrorSpec, SourceKind, SourceSpec

_open: dict[EutilsSpec | MirrorSpec, SearchSource] = {}
_open_lock = threading.Lock()


def open_source(spec: SourceSpec) -> SearchSource:
    """The process's source for `spec`, opened on first use."""
    with _open_lock:
        if spec not in _open:
            _open[spec] = make_source(spec)
        return _open[spec]


def reset_sources() -> None:
    """Forget the open sources: the next `open_source` opens a fresh one."""
    with _open_lock:
        _open.clear()


def make_source(spec: SourceSpec) -> SearchSource:
    """A new source for `spec` (no cache: `open_source` shares one)."""
    if isinstance(spec, MirrorSpec):
        return _open_mirror_source(spec)
    from flows.pipeline.global_pace import pace_file, pacer_for
    from flows.sources.eutils.client import EutilsClient

    # Without a Prefect server, every litgrade process of this machine shares one pace through a file
    # in the data folder; with one, the server's global limit holds it across machines.
    pace = pace_file(config.data_dir(), spec.key)
    return EutilsClient(
        spec, limiter=pacer_for(spec.max_requests_per_second, server=spec.global_pace, pace_path=pace)
    )


def _open_mirror_source(spec: MirrorSpec) -> SearchSource:
    from flows.sources.mirror.source import MirrorSource
    from flows.store.mirror import MirrorIndex

    return MirrorSource(MirrorIndex(spec.path))


def resolve(source: SourceSpec | SourceKind) -> SourceSpec:
    """A spec as given, or the source a deployment names (prefect.yaml, `litgrade schedule`) configured
    from the environment of the process the run happens in: a deployment's stored parameters hold the
    name, never the API key."""
    return config.source_spec(source) if isinstance(source, str) else source
