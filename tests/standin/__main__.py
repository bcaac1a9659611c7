"""`python -m tests.standin --port 8765 --corpus DIR`: serve a corpus until interrupted."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tests.standin.corpus import Corpus, load_corpus_dir
from tests.standin.server import Latency, start_standin


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.standin", description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--corpus", type=Path, help="folder of efetch XML files (each also a query)")
    parser.add_argument(
        "--bulk", type=int, default=0, help="also serve the query 'bulk' with N synthetic hits"
    )
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--per-record", type=float, default=0.0, help="seconds per record returned")
    args = parser.parse_args(argv)
    corpus = load_corpus_dir(args.corpus) if args.corpus else Corpus()
    if args.bulk:
        corpus.add_synthetic_query("bulk", args.bulk)
    standin = start_standin(
        corpus,
        rate_limit=not args.no_rate_limit,
        latency=Latency(args.latency, args.per_record),
        port=args.port,
    )
    with standin:
        print(f"stand-in serving {len(corpus)} records, {len(corpus.queries)} queries at {standin.base_url}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
