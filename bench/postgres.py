"""PostgreSQL beside SQLite, on this machine and in the same run: ingest rate, search latency.

    .venv/bin/python bench/postgres.py [--size 560000] [--rounds 3] [--skip-ingest]
                                       [--skip-search] [--build-only] [--database URL]

1. Ingest of two corpora, each backend fresh: the shared corpus (../shared/data/ctgov, mostly
   legacy XML, whose decoding caps any store near 800 records/s) and 20,000 synthetic API v2
   studies (bench/out/synthetic-20000.jsonl.gz, from `bench/ingest.py --synthetic 20000`),
   which decode several times faster and so show what the stores themselves can take:
   - `trialatlas ingest` end to end, the command a user runs (decoding in worker processes),
     with the CPU its writing process and the PostgreSQL server spent per record;
   - the store alone: the same studies, prepared once in this process as the ingest's
     workers prepare them for that store (for PostgreSQL with its binary tsvector), written
     in batches of 1,000 in one `bulk` run and then `optimize`d, as an ingest writes, with
     the CPU this process and the whole PostgreSQL server spent per study;
   - decoding alone, storing nothing: the ceiling any store can approach with that corpus.
2. Search at `--size` studies with bench/search.py's query mix and corpus: its cached SQLite
   store, and the same inputs ingested once into PostgreSQL (kept under bench/out/postgres,
   so later runs reuse it). Each query with facet counts, cold (full-text matches cleared
   before each query; columns stay loaded, as in a running server) and warm; totals are
   checked equal between the backends before anything is timed.

The PostgreSQL server is started from the local binaries with tests/conftest.py's helper,
in bench/out/postgres, unless --database names a server (a URL to its `postgres` database;
its CPU is then not measured). CPU per record does not depend on other load on the machine,
the rates do: compare rates only between runs on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import os
import pickle
import resource
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
SYNTHETIC = OUT / "synthetic-20000.jsonl.gz"  # bench/ingest.py --synthetic 20000 writes it
CORPORA = {"shared corpus": CTGOV, "synthetic API v2 JSON Lines": SYNTHETIC}
SERVER_HOME = OUT / "postgres"
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
from trialatlas.ingest import StoreForms, prepare_unit  # noqa: E402
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
    for stale in OUT.glob(f"{name}.db*"):  # the store, its text index, their WAL files
        stale.unlink()
    return str(path)


def process_cpu(pid: int, *, children: bool = False) -> float:
    """CPU seconds of a process (with `children`, also of the children it has waited for)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11 : 15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu() -> float:
    """CPU seconds of the benchmark's PostgreSQL server, every process of it (backends that
    have exited included, through the postmaster's children time); 0 when not ours."""
    with contextlib.suppress(OSError, ValueError):
        postmaster = int((SERVER_HOME / "data" / "postmaster.pid").read_text().split()[0])
        total = process_cpu(postmaster, children=True)
        for child in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += process_cpu(int(child))
        return total
    return 0.0


def prepared_corpus(path: Path, forms: StoreForms) -> list[PreparedStudy]:
    """Every study of a corpus, prepared for a store as the ingest's workers would (first
    occurrence of each id): cached, under a name that changes with the corpus, the fields
    and the store forms' code."""
    form = "".join(inspect.getsource(f) for f in forms if f)
    shape = zlib.crc32(f"{path} {PreparedStudy._fields} {form}".encode())
    cache = OUT / f"postgres-prepared-{shape:08x}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    studies: dict[str, PreparedStudy] = {}
    for unit in read_units(path):
        for item in prepare_unit(unit, forms)[1]:
            if isinstance(item, PreparedStudy):
                studies.setdefault(item.nct_id, item)
    result = list(studies.values())
    cache.write_bytes(pickle.dumps(result))
    return result


def cli_ingest(database: str, path: Path) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds of the command's own process (reading, and writing to the
    store; not its workers, which it does not wait for) and of the server, summary line."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    server, started = server_cpu(), time.perf_counter()
    done = subprocess.run(
        [*CLI, "ingest", "-q", "--database", database, str(path)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    return elapsed, used, server_cpu() - server, summary


def store_only(store: Store, studies: list[PreparedStudy]) -> tuple[float, float, float]:
    """Wall seconds, and CPU ms per study of this process and of the server: all of it
    (autovacuum merges the full-text pending list, a build may run in another backend)."""
    server_cpu_now = server_cpu if isinstance(store, PostgresStore) else lambda: 0.0
    cpu, server, started = time.process_time(), server_cpu_now(), time.perf_counter()
    with store.bulk():  # as an ingest writes
        for start in range(0, len(studies), 1000):
            store.write(studies[start : start + 1000])
    store.optimize()
    wall = time.perf_counter() - started
    per = 1000 / len(studies)
    return wall, (time.process_time() - cpu) * per, (server_cpu_now() - server) * per


def ingest_section(server: str) -> list[str]:
    rows = [
        "### Ingest",
        "",
        "| corpus | backend | `trialatlas ingest` wall s | records/s | writer CPU ms/record |"
        " server CPU ms/record | store alone: studies/s | client CPU ms/study |"
        " server CPU ms/study |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for corpus, path in CORPORA.items():
        started = time.perf_counter()
        decoded = sum(len(prepare_unit(unit)[1]) for unit in read_units(path))
        decode_rate = decoded / (time.perf_counter() - started)
        notes.append(
            f"- {corpus}: {decoded:,} records; decoding alone, one process, nothing stored:"
            f" {decode_rate:,.0f} records/s"
        )
        for backend in ("sqlite", "postgres"):
            target = fresh_sqlite("bench-pg-cli") if backend == "sqlite" else ""
            target = target or fresh_database(server, "bench_cli")
            wall, cpu, server_seconds, line = cli_ingest(target, path)
            target = fresh_sqlite("bench-pg-store") if backend == "sqlite" else ""
            store = open_store(target or fresh_database(server, "bench_store"))
            studies = prepared_corpus(path, StoreForms.of(store))
            seconds, client, backend_ms = store_only(store, studies)
            store.close()
            rows.append(
                f"| {corpus} | {backend} | {wall:.1f} | {decoded / wall:,.0f} |"
                f" {cpu * 1000 / decoded:.2f} | {server_seconds * 1000 / decoded:.2f} |"
                f" {len(studies) / seconds:,.0f} |"
                f" {client:.2f} | {backend_ms:.2f} |"
            )
            print(f"  {corpus}, {backend}: {line}", flush=True)
    return [*rows, "", *notes]


def postgres_corpus(server: str, size: int, bench: Any) -> tuple[str, str]:
    """bench/search.py's inputs for `size` studies in PostgreSQL, ingested once."""
    name = f"search_{size}"
    log = OUT / f"postgres-search-{size}.ingest.txt"
    url = database_url(server, name)
    if log.exists():
        upgrade(url)  # built by an older trialatlas, perhaps: migrations keep its data
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
    with temporary_postgres(home=SERVER_HOME, **SERVER_SETTINGS) as url:
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
    if not args.skip_ingest and not SYNTHETIC.exists():
        sys.exit(f"{SYNTHETIC} not found: run bench/ingest.py --synthetic 20000 first")
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
