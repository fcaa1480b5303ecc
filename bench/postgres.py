"""PostgreSQL beside SQLite, on this machine and in the same run: ingest rate, search latency.

    .venv/bin/python bench/postgres.py [--size 560000] [--rounds 3] [--skip-ingest]
                                       [--skip-search] [--build-only] [--database URL]

1. Ingest of the shared corpus (../shared/data/ctgov), each backend fresh:
   - `trialatlas ingest` end to end, the command a user runs (decoding in worker processes);
   - the store alone: the same studies, prepared once in this process as the ingest's
     workers prepare them for that store (for PostgreSQL with its tsvector text), written
     in batches of 1,000, with the CPU this process and the PostgreSQL backend spent per
     study;
   - decoding alone, storing nothing: the ceiling any store can approach here.
2. Search at `--size` studies with bench/search.py's query mix and corpus: its cached SQLite
   store, and the same inputs ingested once into PostgreSQL (kept under bench/out/postgres,
   so later runs reuse it). Each query with facet counts, cold (full-text matches cleared
   before each query; columns stay loaded, as in a running server) and warm; totals are
   checked equal between the backends before anything is timed.

The PostgreSQL server is started from the local binaries with tests/conftest.py's helper,
in bench/out/postgres, unless --database names a server (a URL to its `postgres` database).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pickle
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CTGOV = ROOT.parent / "shared" / "data" / "ctgov"
CLI = [sys.executable, "-m", "trialatlas.cli"]
SERVER_SETTINGS = {  # a benchmark server: durability off, room for bulk loads
    "shared_buffers": "1GB",
    "maintenance_work_mem": "512MB",
    "work_mem": "64MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
}

sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "bench")]

from conftest import database_url, temporary_postgres  # noqa: E402
from trialatlas.ingest import IndexForm, prepare_unit  # noqa: E402
from trialatlas.records.readers import read_units  # noqa: E402
from trialatlas.search import search  # noqa: E402
from trialatlas.search.sqlite import clear_caches  # noqa: E402
from trialatlas.store import Store, open_store  # noqa: E402
from trialatlas.store.base import PreparedStudy  # noqa: E402
from trialatlas.store.postgres import PostgresStore, upgrade  # noqa: E402


def search_bench() -> Any:
    """bench/search.py as a module: its query mix and corpus builder."""
    spec = importlib.util.spec_from_file_location("search_bench", ROOT / "bench" / "search.py")
    assert spec and spec.loader
    module = sys.modules["search_bench"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fresh_database(server: str, name: str) -> str:
    """An empty, migrated database `name` on the server (dropped first if it exists)."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = database_url(server, name)
    upgrade(url)
    return url


def fresh_sqlite(name: str) -> str:
    path = OUT / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return str(path)


def backend_cpu(store: Store) -> float:
    """CPU seconds the store's PostgreSQL backend has used (0 for SQLite or a remote server)."""
    if not isinstance(store, PostgresStore):
        return 0.0
    with store._primary.connection() as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def prepared_corpus(index_form: IndexForm) -> list[PreparedStudy]:
    """Every study of the shared corpus, prepared for a store as the ingest's workers would
    (first occurrence of each id): cached, under a name that changes with the fields."""
    shape = zlib.crc32(f"{PreparedStudy._fields} {index_form and index_form.__name__}".encode())
    cache = OUT / f"postgres-prepared-{shape:08x}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    studies: dict[str, PreparedStudy] = {}
    for unit in read_units(CTGOV):
        for item in prepare_unit(unit, index_form)[1]:
            if isinstance(item, PreparedStudy):
                studies.setdefault(item.nct_id, item)
    result = list(studies.values())
    cache.write_bytes(pickle.dumps(result))
    return result


def cli_ingest(database: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [*CLI, "ingest", "-q", "--database", database, str(CTGOV)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    return elapsed, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr


def store_only(store: Store, studies: list[PreparedStudy]) -> tuple[float, float, float]:
    """Wall seconds, and CPU ms per study of this process and of the server backend."""
    cpu, server, started = time.process_time(), backend_cpu(store), time.perf_counter()
    for start in range(0, len(studies), 1000):
        store.write(studies[start : start + 1000])
    wall = time.perf_counter() - started
    per = 1000 / len(studies)
    return wall, (time.process_time() - cpu) * per, (backend_cpu(store) - server) * per


def ingest_section(server: str) -> list[str]:
    started = time.perf_counter()
    decoded = sum(len(prepare_unit(unit)[1]) for unit in read_units(CTGOV))
    decode_rate = decoded / (time.perf_counter() - started)
    rows = [
        f"### Ingest, shared corpus ({decoded:,} records)",
        "",
        f"decoding alone, one process, nothing stored: {decode_rate:,.0f} records/s",
        "",
        "| backend | `trialatlas ingest` wall s | records/s | store alone: studies/s |"
        " client CPU ms/study | server CPU ms/study |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for backend in ("sqlite", "postgres"):
        target = fresh_sqlite("bench-pg-cli") if backend == "sqlite" else ""
        target = target or fresh_database(server, "bench_cli")
        wall, line = cli_ingest(target)
        rate = decoded / wall
        target = fresh_sqlite("bench-pg-store") if backend == "sqlite" else ""
        store = open_store(target or fresh_database(server, "bench_store"))
        studies = prepared_corpus(store.index_form)
        seconds, client, backend_ms = store_only(store, studies)
        store.close()
        rows.append(
            f"| {backend} | {wall:.1f} | {rate:,.0f} | {len(studies) / seconds:,.0f} |"
            f" {client:.2f} | {backend_ms:.2f} |"
        )
        print(f"  {backend}: {line}", flush=True)
    return rows


def postgres_corpus(server: str, size: int, bench: Any) -> tuple[str, str]:
    """bench/search.py's inputs for `size` studies in PostgreSQL, ingested once."""
    name = f"search_{size}"
    log = OUT / f"postgres-search-{size}.ingest.txt"
    url = database_url(server, name)
    if log.exists():
        return url, log.read_text().strip()
    url = fresh_database(server, name)
    synthetic = bench.synthetic_file(size - bench.REAL_STUDIES)
    started = time.perf_counter()
    done = subprocess.run(
        [*CLI, "ingest", "-q", "--database", url, str(CTGOV), str(synthetic)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: some records failed, the rest are in
        sys.exit(f"ingest into {name} failed: {done.stderr[-2000:]}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum does soon after a bulk load
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    line = f"{summary} [wall {elapsed:.0f}s]"
    log.write_text(line + "\n")
    return url, line


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000

    return f"{at(0.5):.1f} | {at(0.95):.1f} | {at(0.99):.1f} | {len(samples) / sum(samples):,.1f}"


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def search_section(server: str, size: int, rounds: int) -> list[str]:
    bench = search_bench()
    sqlite_path, sqlite_line = bench.build(size)
    pg_url, pg_line = postgres_corpus(server, size, bench)
    stores = {"sqlite": open_store(str(sqlite_path)), "postgres": open_store(pg_url)}
    counts = {name: store.count() for name, store in stores.items()}
    rows = [
        f"### Search, {counts['sqlite']:,} studies (SQLite) / {counts['postgres']:,} (PostgreSQL)",
        "",
        f"- SQLite ingest: {sqlite_line}",
        f"- PostgreSQL ingest: {pg_line}",
    ]
    sample = zip(stores["sqlite"].iter_documents(), range(500), strict=False)
    nct_ids = [d["protocolSection"]["identificationModule"]["nctId"] for d, _ in sample]
    totals: dict[str, dict[str, int]] = {}
    samples: dict[tuple[str, str], list[float]] = {}
    per_query: dict[tuple[str, str], list[float]] = {}
    for name, store in stores.items():
        clear_caches()
        load = timed(lambda s=store: search(s, bench.SearchRequest(page_size=1)))
        rows.append(f"- {name}: column index load (first query after start) {load * 1000:.0f} ms")
        totals[name] = {q.name: search(store, q.request).total for q in bench.MIX}
        cold, warm = samples[name, "cold"], samples[name, "warm"] = [], []
        for _ in range(rounds):
            for query in bench.MIX:
                clear_caches(columns=False)
                elapsed = timed(lambda q=query, s=store: search(s, q.request, facets=True))
                cold.append(elapsed)
                per_query.setdefault((name, query.name), []).append(elapsed)
            for query in bench.MIX:
                warm.append(timed(lambda q=query, s=store: search(s, q.request, facets=True)))
        samples[name, "by id"] = [timed(lambda n=n, s=store: s.document(n)) for n in nct_ids]
    same = totals["sqlite"] == totals["postgres"]
    rows += [
        "",
        f"Totals equal across backends for every query: {'yes' if same else 'NO'}",
        "",
        "| query | hits | SQLite cold p50 ms | PostgreSQL cold p50 ms |",
        "|---|---:|---:|---:|",
    ]
    for query in bench.MIX:
        hits = totals["sqlite"][query.name]
        if totals["postgres"][query.name] != hits:
            hits = f"{hits:,} / {totals['postgres'][query.name]:,}"
        rows.append(
            f"| {query.name} | {hits if isinstance(hits, str) else f'{hits:,}'} |"
            f" {statistics.median(per_query['sqlite', query.name]) * 1000:.1f} |"
            f" {statistics.median(per_query['postgres', query.name]) * 1000:.1f} |"
        )
    rows += ["", "| backend | run | n | p50 ms | p95 ms | p99 ms | QPS |"]
    rows += ["|---|---|---:|---:|---:|---:|---:|"]
    for (name, run), values in samples.items():
        rows.append(f"| {name} | {run} | {len(values)} | {percentiles(values)} |")
    for store in stores.values():
        store.close()
    return rows


@contextlib.contextmanager
def server_for(database: str | None) -> Iterator[str]:
    if database:
        yield database
        return
    with temporary_postgres(home=OUT / "postgres", **SERVER_SETTINGS) as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=560_000, help="Studies for the search part.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--build-only", action="store_true", help="Build the PostgreSQL corpus.")
    parser.add_argument("--database", help="A PostgreSQL server's URL (default: start one).")
    args = parser.parse_args()
    if not CTGOV.is_dir():
        sys.exit(f"{CTGOV} not found: the benchmark needs ../shared")
    OUT.mkdir(parents=True, exist_ok=True)
    os.nice(5)  # leave room for tests running beside it
    with server_for(args.database) as server:
        if args.build_only:  # (bench/search.py --build-only builds the SQLite one)
            print(postgres_corpus(server, args.size, search_bench())[1], flush=True)
            return
        rows: list[str] = []
        if not args.skip_ingest:
            rows += [*ingest_section(server), ""]
            print("\n".join(rows), flush=True)
        if not args.skip_search:
            search_rows = search_section(server, args.size, args.rounds)
            print("\n".join(search_rows), flush=True)


if __name__ == "__main__":
    main()
