"""Several app server workers on one PostgreSQL database, reading while two ingests of the
same newer snapshot run at once: no failed request, and every changed trial gets exactly
one new version (none doubled by the two ingests, none lost)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx2
import pytest

from trialatlas.store import open_store

pytestmark = pytest.mark.postgres
CLI = [sys.executable, "-m", "trialatlas.cli"]
SNAPSHOT = "xml/sample-65-2023-05.tar.gz"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _changed_snapshot(url: str, path: Path) -> tuple[set[str], set[str]]:
    """Every stored record again, every other one with a later status: (changed, same)."""
    changed, same = set(), set()
    store = open_store(url)
    with path.open("w") as out:
        for i, document in enumerate(store.iter_documents()):
            nct_id = document["protocolSection"]["identificationModule"]["nctId"]
            if i % 2 == 0:
                status = document["protocolSection"]["statusModule"]
                status["overallStatus"] = "COMPLETED"
                status["lastUpdatePostDateStruct"] = {"date": "2030-01-01", "type": "ACTUAL"}
                changed.add(nct_id)
            else:
                same.add(nct_id)
            out.write(json.dumps(document) + "\n")
    store.close()
    return changed, same


def test_workers_serve_reads_during_concurrent_ingests(
    ctgov_dir: Path, postgres_url: str, tmp_path: Path
) -> None:
    first = subprocess.run(
        [*CLI, "ingest", "-q", "--database", postgres_url, str(ctgov_dir / SNAPSHOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    snapshot = tmp_path / "later.jsonl"
    changed, same = _changed_snapshot(postgres_url, snapshot)
    ids = sorted(changed | same)
    port = _free_port()
    env = os.environ | {"TRIALATLAS_PG_POOL_SIZE": "4"}
    server = subprocess.Popen(
        [*CLI, "serve", "--workers", "2", "--port", str(port), "--database", postgres_url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(f"{base}/api/v2/version", timeout=5).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "server did not start"
            time.sleep(0.2)

        def reader(offset: int) -> None:
            with httpx2.Client(base_url=base, timeout=30) as client:
                n = offset
                while not stop.is_set():
                    nct_id = ids[n % len(ids)]
                    for path in (
                        f"/api/v2/studies/{nct_id}",
                        f"/study/{nct_id}/history",
                        "/api/v2/studies?query.cond=cancer&countTotal=true",
                    ):
                        try:
                            status = client.get(path).status_code
                        except httpx2.HTTPError as exc:
                            failures.append(f"{path}: {exc!r}")
                            continue
                        statuses[status] += 1
                        if status != 200:
                            failures.append(f"{path}: HTTP {status}")
                    n += 1

        readers = [threading.Thread(target=reader, args=(i * 7,)) for i in range(4)]
        for thread in readers:
            thread.start()
        command = [*CLI, "ingest", "-q", "--database", postgres_url, str(snapshot)]
        ingests = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [process.communicate(timeout=300) for process in ingests]
        time.sleep(1)  # a few more reads of the new versions
        stop.set()
        for thread in readers:
            thread.join()
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
    assert [p.returncode for p in ingests] == [0, 0], outputs
    assert failures == []
    assert statuses[200] > 50, statuses
    store = open_store(postgres_url)
    for nct_id in changed:
        assert [v.version for v in store.versions(nct_id)] == [1, 2], nct_id
        status = store.document(nct_id)["protocolSection"]["statusModule"]["overallStatus"]
        assert status == "COMPLETED"
    for nct_id in same:
        assert [v.version for v in store.versions(nct_id)] == [1], nct_id
    store.close()
