"""Ingest benchmark: studies/second end to end into SQLite, with a profile.

    .venv/bin/python bench/ingest.py [--synthetic N] [--workers W]

For the shared corpus (../shared/data/ctgov: legacy XML and API v2 JSON) and for a synthetic
API v2 corpus of N studies (JSON Lines, built with `trialatlas synth` from the shared one),
it measures in the same run:

- decode only: reading, parsing, validating and preparing every record, storing nothing
  (the ceiling the store can approach);
- ingest in one process: the whole pipeline in one process;
- ingest with W workers: decoding in W worker processes, the store written by the parent.

Each row also gives the CPU this process spent per study ("here": with workers, the
writer's share). Unlike the rate it barely moves when other jobs share the cores, so it
compares runs on a busy machine; on an idle one, with workers that keep up, the rate
approaches one over the writer's share.

Then it profiles the single-process ingest of the shared corpus and prints where the
time goes. Everything runs on fresh databases under bench/out/ (git-ignored).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from trialatlas.ingest import ingest, prepare_unit
from trialatlas.records.readers import read_units
from trialatlas.store.sqlite import SQLiteStore
from trialatlas.synth import write_synthetic

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CTGOV = ROOT.parent / "shared" / "data" / "ctgov"


def fresh_store(name: str) -> SQLiteStore:
    path = OUT / f"{name}.db"
    for stale in OUT.glob(f"{name}.db*"):  # the store, its text index, their WAL files
        stale.unlink()
    return SQLiteStore(path)


def decode_only(paths: list[Path]) -> int:
    records = 0
    for path in paths:
        for unit in read_units(path):
            records += len(prepare_unit(unit)[1])
    return records


def timed(run: Callable[[], int]) -> tuple[int, float, float]:
    """Studies, wall seconds and CPU seconds of this process (workers' not included)."""
    started, cpu = time.perf_counter(), time.process_time()
    count = run()
    return count, time.perf_counter() - started, time.process_time() - cpu


def ingest_run(name: str, paths: list[Path], workers: int) -> int:
    store = fresh_store(name)
    try:
        report = ingest(store, paths, workers=workers)
        if report.failures:
            print(
                f"  {len(report.failures)} failures, first: {report.failures[0]}", file=sys.stderr
            )
        return report.processed
    finally:
        store.close()


def measure(label: str, paths: list[Path], workers: int) -> None:
    print(f"\n{label}")
    rows = [
        ("decode only (no store)", lambda: decode_only(paths)),
        ("ingest, one process", lambda: ingest_run(f"{label}-0", paths, 0)),
        (f"ingest, {workers} workers", lambda: ingest_run(f"{label}-{workers}", paths, workers)),
    ]
    baseline = None
    for name, run in rows:
        count, seconds, cpu = timed(run)
        rate = count / seconds
        baseline = baseline or rate
        print(f"  {name:<26} {count:>8,} studies {seconds:>7.2f} s {rate:>8,.0f}/s  "
              f"{rate / baseline:>5.2f}x decode-only  {cpu * 1e6 / count:>5.0f} us CPU/study"
              " here")  # fmt: skip


def profile(paths: list[Path]) -> None:
    store = fresh_store("profile")
    profiler = cProfile.Profile()
    profiler.enable()
    ingest(store, paths, workers=0)
    profiler.disable()
    store.close()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(18)
    print("\nprofile of the one-process ingest of the shared corpus (by own time):")
    print("\n".join(text.getvalue().splitlines()[6:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", type=int, default=50_000, help="synthetic studies")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    if not CTGOV.is_dir():
        sys.exit(f"{CTGOV} not found: the benchmark needs ../shared/data/ctgov")
    OUT.mkdir(parents=True, exist_ok=True)
    measure("shared corpus (XML + JSON)", [CTGOV], args.workers)

    synthetic = OUT / f"synthetic-{args.synthetic}.jsonl.gz"
    if not synthetic.exists():
        pool_store = SQLiteStore(OUT / "shared corpus (XML + JSON)-0.db")
        pool = list(pool_store.iter_documents())
        pool_store.close()
        partial = OUT / f"synthetic-{args.synthetic}.partial.jsonl.gz"
        write_synthetic(pool, args.synthetic, partial)
        shutil.move(partial, synthetic)
    measure(f"synthetic API v2 JSON Lines ({args.synthetic:,})", [synthetic], args.workers)
    if not args.no_profile:
        profile([CTGOV])


if __name__ == "__main__":
    main()
