"""Web serving benchmark: server-side latency per page, and sustained detail-page throughput.

    .venv/bin/python bench/serve.py [--database PATH] [--workers 1,2] [--seconds 10]

Two measurements, each beside a baseline taken in the same run:

1. Server-side latency: requests go straight into the ASGI app in this process (no network,
   no server), one at a time, over a sample of the corpus: detail pages (first view, and
   again with "See also" cached), search pages and the baseline (the JSON API by-id
   endpoint when the API is present, else a static file).
2. Throughput: `trialatlas serve --workers N` on a free loopback port, driven by `wrk` when
   installed (apt install wrk), else by a bounded asyncio + httpx2 loop, rotating through
   detail pages: first pages the server has never shown (cold: every study outside the
   sample), then the sampled pages once each has been seen (warm). Each worker process is
   warmed up first (templates, search columns). Bounded in time (--seconds) and, for the
   httpx2 loop, in count.

The database defaults to bench/out/serve.db, built on first use from data/demo and the
shared corpus (../shared/data/ctgov), one snapshot at a time so that records present in two
snapshots get two versions. Results are printed and written to bench/out/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CTGOV = ROOT.parent / "shared" / "data" / "ctgov"
BIN = Path(sys.executable).parent
# Oldest snapshot first, so a later snapshot of a trial becomes its next version.
SNAPSHOTS = (
    "xml/als-5-2020-07.tar.gz",
    "xml/trec2021-judged-1000-2021-04.tar.gz",
    "xml/ctgov-xml-6786-2023-02.tar.gz",
    "xml/sample-65-2023-05.tar.gz",
    "json",
)
SEARCHES = (
    "/search?term=amyotrophic+lateral+sclerosis",
    "/search?term=amyotrophic+lateral+sclerosis&aggFilters=status:rec",
    "/search?cond=breast+cancer&aggFilters=phase:2+3",
    "/search?cond=diabetes&sort=LastUpdatePostDate:desc",
    "/search?intr=pembrolizumab",
    "/search?term=pain&page=3",
    "/search?locStr=Boston,+Massachusetts&distance=50",
    "/search?cond=asthma&aggFilters=ages:child,healthy:y",
    "/search?term=covid-19&aggFilters=results:with",
    "/search",
)
SERVER_START_SECONDS = 30
_WRK_REQUESTS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_LATENCY = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


@dataclass
class Latency:
    name: str
    requests: int
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass
class Throughput:
    name: str
    tool: str
    seconds: float
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int


def build_database(path: Path) -> None:
    """Ingest the demo and the shared corpus, snapshot by snapshot, with the CLI."""
    if not CTGOV.is_dir():
        sys.exit(f"{CTGOV} not found: pass --database with an ingested store")
    path.parent.mkdir(parents=True, exist_ok=True)
    for source in [*(CTGOV / s for s in SNAPSHOTS), ROOT / "data" / "demo"]:
        print(f"ingesting {source}", file=sys.stderr)
        subprocess.run(
            [BIN / "trialatlas", "ingest", "-q", "--database", str(path), str(source)],
            check=False,  # records failing validation are reported, not fatal here
        )


def sample_ids(path: Path, count: int, seed: int = 7) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        ids = [row[0] for row in db.execute("SELECT nct_id FROM study ORDER BY nct_id")]
    random.Random(seed).shuffle(ids)
    return ids[:count]


def _summary(name: str, timings: list[float]) -> Latency:
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
    return Latency(name, len(timings), statistics.median(timings), p95, timings[-1])


def _client(database: Path) -> httpx2.AsyncClient:
    """A client that calls the ASGI app in this process: no network, no server."""
    from trialatlas.web.app import create_app

    transport = httpx2.ASGITransport(app=create_app(str(database)))
    return httpx2.AsyncClient(transport=transport, base_url="http://bench")


async def _status(database: Path, path: str) -> int:
    async with _client(database) as client:
        return (await client.get(path)).status_code


async def _in_process(
    database: Path, groups: dict[str, Sequence[str]], warm_up: Sequence[str]
) -> list[Latency]:
    """Each group's URLs timed one by one, after `warm_up` loaded templates, search columns,
    synonyms and the gazetteer (one-off costs of a new process)."""
    results = []
    async with _client(database) as client:
        for url in warm_up:
            await client.get(url)
        for name, urls in groups.items():
            timings = []
            for url in urls:
                started = time.perf_counter()
                response = await client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {response.status_code}")
            results.append(_summary(name, timings))
    return results


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(database: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [
        str(BIN / "trialatlas"), "serve", "--database", str(database),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    server = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        try:
            httpx2.get(f"{url}/static/site.css", timeout=1)
            return server, url
        except httpx2.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                sys.exit("the server did not start")
            time.sleep(0.2)


def _wrk_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(base: str, name: str, paths: Sequence[str], seconds: float, conns: int) -> Throughput:
    """wrk with a Lua script that walks the given paths round-robin."""
    lua = (
        "paths = {"
        + ",".join(json.dumps(p) for p in paths)
        + "}\n"
        + (
            "i = 0\nrequest = function()\n  i = i % #paths + 1\n"
            "  return wrk.format(nil, paths[i])\nend\n"
        )
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        output = subprocess.run(
            ["wrk", "-t2", f"-c{conns}", f"-d{seconds:.0f}s", "--latency", "-s", script.name, base],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        os.unlink(script.name)
    rate = float(_WRK_REQUESTS.search(output)[1])  # type: ignore[index]
    latency = {p: _wrk_ms(v, u) for p, v, u in _WRK_LATENCY.findall(output)}
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    return Throughput(name, "wrk", seconds, rate, latency.get("50"), latency.get("99"), errors)


async def _client_load(
    base: str, name: str, paths: Sequence[str], seconds: float, conns: int, limit: int
) -> Throughput:
    """A bounded closed loop: `conns` tasks, each one request at a time, until time or count."""
    deadline = time.monotonic() + seconds
    timings: list[float] = []
    errors = 0
    next_index = 0

    async def worker(client: httpx2.AsyncClient) -> None:
        nonlocal errors, next_index
        while time.monotonic() < deadline and len(timings) < limit:
            path = paths[next_index % len(paths)]
            next_index += 1
            started = time.perf_counter()
            response = await client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 200

    limits = httpx2.Limits(max_connections=conns, max_keepalive_connections=conns)
    started = time.monotonic()
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(conns)))
    elapsed = time.monotonic() - started
    summary = _summary(name, timings)
    return Throughput(name, "httpx2", elapsed, len(timings) / elapsed, summary.p50_ms, None, errors)


def _load(base: str, name: str, paths: Sequence[str], args: argparse.Namespace) -> Throughput:
    if shutil.which("wrk"):
        return run_wrk(base, name, paths, args.seconds, args.connections)
    return asyncio.run(
        _client_load(base, name, paths, args.seconds, args.connections, args.max_requests)
    )


async def _visit(base: str, paths: Sequence[str], connections: int = 8) -> None:
    """Each path once, a few at a time: fills the workers' See-also caches."""
    async with httpx2.AsyncClient(base_url=base, timeout=60) as client:
        for start in range(0, len(paths), connections):
            chunk = paths[start : start + connections]
            await asyncio.gather(*(client.get(p) for p in chunk), return_exceptions=True)


def _throughput(
    args: argparse.Namespace,
    workers: int,
    baseline: dict[str, list[str]],
    detail: list[str],
    unseen: list[str],
    warm_up: Sequence[str],
) -> list[Throughput]:
    """Baseline, then detail pages this server has never shown (cold: `unseen`, every
    other study of the store, more than a run gets through), then `detail` again once each
    page has been seen twice (warm: "See also" from the workers' caches). Before any of it,
    `warm_up` a few times over so that every worker process has loaded its templates and
    search columns: a one-off cost of a new process, not of a page's first view."""
    server, base = start_server(args.database, workers)
    label = f"{workers} worker{'s' if workers > 1 else ''}"
    try:
        asyncio.run(_visit(base, [*warm_up] * 2 * workers))
        runs = [_load(base, f"{name}, {label}", paths, args) for name, paths in baseline.items()]
        runs.append(_load(base, f"detail page cold, {label}", unseen, args))
        for _ in range(2):
            asyncio.run(_visit(base, detail))
        runs.append(_load(base, f"detail page warm, {label}", detail, args))
    finally:
        server.terminate()
        server.wait(timeout=10)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=Path, default=OUT / "serve.db")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, e.g. 1,2")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sample", type=int, default=500, help="detail pages to time")
    parser.add_argument("--max-requests", type=int, default=100_000, help="httpx2 loop bound")
    args = parser.parse_args()
    if not args.database.exists():
        build_database(args.database)
    every = sample_ids(args.database, sys.maxsize)
    ids = every[: args.sample + 10]
    detail = [f"/study/{nct_id}" for nct_id in ids[: args.sample]]
    warm_up = [*SEARCHES, *(f"/study/{nct_id}" for nct_id in ids[args.sample :])]
    unseen = [f"/study/{nct_id}" for nct_id in every[args.sample + 10 :]] or detail
    api = [f"/api/v2/studies/{nct_id}" for nct_id in ids[: args.sample]]
    static = ["/static/site.css"] * args.sample
    searches = [url for _ in range(10) for url in SEARCHES]

    groups = {
        "static file (baseline)": static,
        "detail page, first view": detail,
        "detail page, again": detail,  # "See also" now comes from the page cache
        "search page": searches,
    }
    baseline = {"static file (baseline)": static}
    if asyncio.run(_status(args.database, api[0])) == 200:  # the JSON API is someone else's
        baseline = {"JSON API by id (baseline)": api}
        groups.update(baseline)
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure
    latencies = asyncio.run(_in_process(args.database, groups, warm_up))
    runs = []
    for workers in (int(n) for n in args.workers.split(",")):
        runs += _throughput(args, workers, baseline, detail, unseen, warm_up)

    load = f"load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    print(f"\n{os.cpu_count()} cores, {load}")
    print(f"\nServer-side latency, in process, sequential ({args.database.name})")
    print(f"{'':28} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for item in latencies:
        print(f"{item.name:28} {item.requests:>9} {item.p50_ms:>8.1f} {item.p95_ms:>8.1f} "
              f"{item.max_ms:>8.1f}")  # fmt: skip
    print(f"\nThroughput on loopback, {args.connections} connections, {args.seconds:.0f} s each")
    print(f"{'':40} {'tool':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for run in runs:
        p50 = f"{run.p50_ms:.1f}" if run.p50_ms is not None else "-"
        p99 = f"{run.p99_ms:.1f}" if run.p99_ms is not None else "-"
        print(f"{run.name:40} {run.tool:>6} {run.requests_per_s:>9.0f} {p50:>8} {p99:>8} "
              f"{run.errors:>7}")  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {"cores": os.cpu_count(), "load": load},
        "latency": [asdict(x) for x in latencies],
        "throughput": [asdict(x) for x in runs],
    }
    (OUT / "serve.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
