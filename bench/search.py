"""Search latency at registry scale, side by side with a naive LIKE-scan baseline.

Builds (once, cached under bench/out/) SQLite stores of ~10k, ~100k and ~560k studies: the
shared ClinicalTrials.gov corpus plus synthetic studies recombined from it (`trialatlas
synth`), ingested with `trialatlas ingest`. Then, per store, runs a fixed mix of typical
searches, each with facet counts, and prints p50 / p95 / p99 latency and QPS for:

- trialatlas, cold: the full-text match cache cleared before every query (the column index
  stays loaded, as in a running server);
- trialatlas, warm: each search repeated right after a first run (full-text matches and
  facet counts cached, as when a user pages through a result);
- baseline: the same searches as one SQL statement per result page and per facet, matching
  text with LIKE over the stored JSON documents (no index), in the same run;
- one study by NCT id.

Usage: python bench/search.py [--sizes 10000,100000,560000] [--rounds 5] [--baseline-rounds 1]
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SHARED_CTGOV = ROOT.parent / "shared" / "data" / "ctgov"
CLI = [sys.executable, "-m", "trialatlas.cli"]
SEED = 0
REAL_STUDIES = 8756  # distinct NCT ids in ../shared/data/ctgov (data/README.md)

sys.path.insert(0, str(ROOT / "src"))

from trialatlas.records.document import stored_json  # noqa: E402
from trialatlas.search import Near, SearchRequest, search  # noqa: E402
from trialatlas.search.sqlite import clear_caches  # noqa: E402
from trialatlas.store.sqlite import SQLiteStore  # noqa: E402


@dataclass(frozen=True)
class Query:
    name: str
    request: SearchRequest
    like: tuple[str, ...]  # words the baseline looks for in the document JSON
    where: str = ""  # the baseline's SQL for the filters


MIX = (
    Query("condition", SearchRequest(cond="diabetes"), ("diabetes",)),
    Query("condition synonyms", SearchRequest(cond="ALS"), ("amyotrophic lateral sclerosis",)),
    Query("intervention", SearchRequest(intr="metformin"), ("metformin",)),
    Query("free text", SearchRequest(term="heart failure exercise"),
          ("heart", "failure", "exercise")),
    Query("status filter", SearchRequest(cond="asthma", status=frozenset({"RECRUITING"})),
          ("asthma",), "s.overall_status = 'RECRUITING'"),
    Query("phase filter", SearchRequest(cond="breast cancer", phase=frozenset({"PHASE3"})),
          ("breast", "cancer"), "s.phases LIKE '%PHASE3%'"),
    Query("country filter", SearchRequest(term="vaccine", country=frozenset({"United States"})),
          ("vaccine",), "EXISTS (SELECT 1 FROM study_term t WHERE t.study_rowid = s.rowid"
                        " AND t.kind = 'country' AND t.value = 'United States')"),
    Query("broad: cancer", SearchRequest(cond="cancer"), ("cancer",)),
    Query("broad + filters", SearchRequest(cond="cancer", status=frozenset({"RECRUITING"}),
                                           phase=frozenset({"PHASE2"})),
          ("cancer",), "s.overall_status = 'RECRUITING' AND s.phases LIKE '%PHASE2%'"),
    Query("near + condition", SearchRequest(cond="cancer", near=Near(39.0, -77.1, 80.0)),
          ("cancer",), "EXISTS (SELECT 1 FROM location l WHERE l.study_rowid = s.rowid"
                       " AND l.lat BETWEEN 38.28 AND 39.72 AND l.lon BETWEEN -78.03 AND -76.17)"),
    Query("browse recruiting by date", SearchRequest(status=frozenset({"RECRUITING"})), (),
          "s.overall_status = 'RECRUITING'"),
    Query("advanced date range", SearchRequest(advanced="AREA[StartDate]RANGE[2020-01-01, MAX]"),
          (), "s.start_date >= '2020-01-01'"),
)  # fmt: skip
# Above --baseline-all-up-to studies the LIKE baseline runs one query: at 100k its broad
# "cancer" search alone took 13 minutes, so the whole mix would take hours at 560k.
BASELINE_FIRST = ("condition",)
# The baseline's facets: (facet, SQL expression grouped by), over the matching rows
BASELINE_FACETS = (
    ("status", "SELECT s.overall_status, count(*) FROM hits h JOIN study s ON s.rowid = h.rowid"
               " GROUP BY 1"),
    ("phase", "SELECT t.value, count(*) FROM hits h JOIN study_term t ON t.study_rowid = h.rowid"
              " AND t.kind = 'phase' GROUP BY 1"),
    ("study_type", "SELECT s.study_type, count(*) FROM hits h JOIN study s ON s.rowid = h.rowid"
                   " GROUP BY 1"),
    ("sex", "SELECT s.sex, count(*) FROM hits h JOIN study s ON s.rowid = h.rowid GROUP BY 1"),
    ("funder", "SELECT s.lead_sponsor_class, count(*) FROM hits h JOIN study s"
               " ON s.rowid = h.rowid GROUP BY 1"),
    ("results", "SELECT s.has_results, count(*) FROM hits h JOIN study s ON s.rowid = h.rowid"
                " GROUP BY 1"),
    ("healthy", "SELECT s.healthy_volunteers, count(*) FROM hits h JOIN study s"
                " ON s.rowid = h.rowid GROUP BY 1"),
    ("country", "SELECT t.value, count(*) FROM hits h JOIN study_term t"
                " ON t.study_rowid = h.rowid AND t.kind = 'country' GROUP BY 1"),
)  # fmt: skip


def run(cmd: list[str]) -> None:
    print("  $", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def synthetic_file(count: int) -> Path:
    """`count` synthetic studies: a prefix of the largest file (same seed, same studies)."""
    path = OUT / f"synth-{count}.jsonl.gz"
    if path.exists():
        return path
    bigger = sorted(
        (
            p
            for p in OUT.glob("synth-*.jsonl.gz")
            if int(p.stem.split("-")[1].split(".")[0]) > count
        ),
        key=lambda p: int(p.stem.split("-")[1].split(".")[0]),
    )
    if bigger:
        with gzip.open(bigger[0], "rb") as source, gzip.open(path, "wb", compresslevel=1) as out:
            for _, line in zip(range(count), source, strict=False):
                out.write(line)
        return path
    real = OUT / "shared.db"
    if not real.exists():
        run([*CLI, "ingest", "-q", "--database", str(real), str(SHARED_CTGOV)])
    run([*CLI, "synth", "--database", str(real), "--count", str(count), "--out", str(path),
         "--seed", str(SEED)])  # fmt: skip
    return path


def build(size: int) -> tuple[Path, str]:
    """The cached store of `size` studies, and how its ingest went."""
    db = OUT / f"search-{size}.db"
    log = OUT / f"search-{size}.ingest.txt"
    if db.exists() and log.exists():
        return db, log.read_text().strip()
    for stale in OUT.glob(f"search-{size}.db*"):
        stale.unlink()
    synthetic = synthetic_file(size - REAL_STUDIES)
    started = time.perf_counter()
    result = subprocess.run(
        [*CLI, "ingest", "-q", "--database", str(db), str(SHARED_CTGOV), str(synthetic)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    line = f"{summary} [wall {elapsed:.0f}s]"
    log.write_text(line + "\n")
    return db, line


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000

    return at(0.50), at(0.95), at(0.99)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def baseline(store: SQLiteStore, query: Query) -> None:
    """The naive way: LIKE over every stored document's JSON, then one GROUP BY per facet."""
    db = store.connection
    # the store keeps documents compressed: the naive way has to decompress them too
    db.create_function("document_json", 1, stored_json, deterministic=True)
    conditions = [f"document_json(v.document) LIKE '%{word}%'" for word in query.like]
    if query.where:
        conditions.append(query.where)
    where = " AND ".join(conditions) or "1"
    db.execute("DROP TABLE IF EXISTS temp.hits")
    db.execute(
        "CREATE TEMP TABLE hits AS SELECT s.rowid AS rowid FROM study s JOIN study_version v"
        f" ON v.nct_id = s.nct_id AND v.version = s.version WHERE {where}"
    )
    db.execute("SELECT count(*) FROM hits").fetchone()
    db.execute(
        "SELECT s.nct_id FROM hits h JOIN study s ON s.rowid = h.rowid"
        " ORDER BY s.last_update_date DESC LIMIT 10"
    ).fetchall()
    for _, sql in BASELINE_FACETS:
        db.execute(sql).fetchall()


def bench(size: int, rounds: int, baseline_rounds: int, baseline_max: int) -> list[str]:
    db, ingest_line = build(size)
    store = SQLiteStore(db)
    count = store.count()
    clear_caches()
    load = timed(lambda: search(store, SearchRequest(page_size=1)))
    rows: list[str] = [
        f"### {count:,} studies ({db.name}; ingest: {ingest_line})",
        f"column index load (first query after start): {load * 1000:.0f} ms",
        "",
    ]
    totals = {q.name: search(store, q.request).total for q in MIX}
    cold: list[float] = []
    warm: list[float] = []
    per_query: dict[str, list[float]] = {q.name: [] for q in MIX}
    per_query_warm: dict[str, list[float]] = {q.name: [] for q in MIX}
    for _ in range(rounds):
        for query in MIX:
            clear_caches(columns=False)
            elapsed = timed(lambda q=query: search(store, q.request, facets=True))
            cold.append(elapsed)
            per_query[query.name].append(elapsed)
        for query in MIX:
            search(store, query.request, facets=True)  # cached now, if it was not
            elapsed = timed(lambda q=query: search(store, q.request, facets=True))
            warm.append(elapsed)
            per_query_warm[query.name].append(elapsed)
    base: list[float] = []
    base_per_query: dict[str, list[float]] = {q.name: [] for q in MIX}
    # LIKE scans take minutes per query at 560k studies: larger stores run BASELINE_FIRST
    baseline_mix = [q for q in MIX if q.name in BASELINE_FIRST] if size > baseline_max else MIX
    for _ in range(baseline_rounds):
        for query in baseline_mix:
            elapsed = timed(lambda q=query: baseline(store, q))
            print(f"  baseline {query.name}: {elapsed:.1f}s", file=sys.stderr, flush=True)
            base.append(elapsed)
            base_per_query[query.name].append(elapsed)
    sample = "SELECT nct_id FROM study ORDER BY random() LIMIT 2000"
    ids = [n for (n,) in store.connection.execute(sample)]
    by_id = [timed(lambda n=n: store.document(n)) for n in ids]
    rows.append("| query | hits | cold p50 ms | warm p50 ms | baseline ms |")
    rows.append("|---|---:|---:|---:|---:|")
    for query in MIX:
        samples = base_per_query[query.name]
        base_ms = f"{statistics.median(samples) * 1000:,.0f}" if samples else "–"
        cold_ms = statistics.median(per_query[query.name]) * 1000
        warm_ms = statistics.median(per_query_warm[query.name]) * 1000
        rows.append(
            f"| {query.name} | {totals[query.name]:,} | {cold_ms:.1f} | {warm_ms:.1f} | {base_ms} |"
        )
    rows += ["", "| run | n | p50 ms | p95 ms | p99 ms | QPS |", "|---|---:|---:|---:|---:|---:|"]
    runs = (
        ("trialatlas cold (+facets)", cold),
        ("trialatlas warm (+facets)", warm),
        ("baseline LIKE scan (+facets)", base),
        ("one study by id", by_id),
    )
    for name, samples in runs:
        if samples:
            p50, p95, p99 = percentiles(samples)
            qps = len(samples) / sum(samples)
            rows.append(
                f"| {name} | {len(samples)} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {qps:,.1f} |"
            )
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,560000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-rounds", type=int, default=1)
    parser.add_argument(
        "--baseline-all-up-to",
        type=int,
        default=100_000,
        help="Larger stores run the baseline for only " + ", ".join(BASELINE_FIRST),
    )
    parser.add_argument("--build-only", action="store_true", help="Build the stores, no timing.")
    args = parser.parse_args()
    if not SHARED_CTGOV.is_dir():
        sys.exit(f"{SHARED_CTGOV} not found: the benchmark needs ../shared")
    OUT.mkdir(parents=True, exist_ok=True)
    random.seed(SEED)
    os.nice(5)  # leave room for tests running beside it
    for size in (int(s) for s in args.sizes.split(",")):
        if args.build_only:
            print(size, build(size)[1], flush=True)
            continue
        rows = bench(size, args.rounds, args.baseline_rounds, args.baseline_all_up_to)
        print("\n".join(rows), "\n", flush=True)


if __name__ == "__main__":
    main()
