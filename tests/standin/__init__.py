"""A local stand-in for NCBI E-utilities: a real HTTP server on 127.0.0.1 for tests and benchmarks.

    with start_standin(load_corpus(files), limit_without_key=3) as standin:
        client = EutilsClient(EutilsSpec(standin.base_url, "me@example.org", None))
        ...
        assert not standin.entries(status=429)

Run by hand: ``python -m tests.standin --port 8765 --corpus ../shared/ncbi-samples``.
"""

from tests.standin.corpus import Corpus, QueryEntry, load_corpus, load_corpus_dir, split_efetch
from tests.standin.server import Fault, Latency, LogEntry, StandIn, max_in_window, start_standin

__all__ = [
    "Corpus",
    "Fault",
    "Latency",
    "LogEntry",
    "QueryEntry",
    "StandIn",
    "load_corpus",
    "load_corpus_dir",
    "max_in_window",
    "split_efetch",
    "start_standin",
]
