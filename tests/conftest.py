"""Shared fixtures: the real data in ../shared and a store built from it once per session."""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from trialatlas.eligibility import cache
from trialatlas.ingest import IngestReport, ingest
from trialatlas.store import Store, open_store
from trialatlas.store.sqlite import SQLiteStore

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEMO = REPO / "data" / "demo"


@pytest.fixture(scope="module")
def criteria_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Criteria analyses cached in a directory of the module's own, not the user's cache
    (modules that match opt in with `pytestmark = pytest.mark.usefixtures(...)`)."""
    path = tmp_path_factory.mktemp("criteria-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(cache.CACHE_DIR_ENV, str(path))
        yield path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the repository; tests that need it skip when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"real data not present: {SHARED / 'data'} is missing (see data/README)")
    return SHARED


@pytest.fixture(scope="session")
def ctgov_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "ctgov"


@pytest.fixture(scope="session")
def corpus(
    ctgov_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SQLiteStore, IngestReport]]:
    """The demo records plus every shared ClinicalTrials.gov record, ingested once."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.db"
    store = SQLiteStore(path)
    report = ingest(store, [DEMO, ctgov_dir], workers=1)
    yield store, report
    store.close()


@pytest.fixture(scope="session")
def corpus_store(corpus: tuple[SQLiteStore, IngestReport]) -> SQLiteStore:
    """A read-only SQLite store with demo + shared corpus; tests must not write to it."""
    return corpus[0]


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    """An empty SQLite store of the test's own (outside tmp_path, which holds inputs)."""
    empty = SQLiteStore(tmp_path_factory.mktemp("store") / "test.db")
    yield empty
    empty.close()


# --- PostgreSQL: a throwaway server from the local binaries, shared by the session ---------

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def temporary_postgres(
    parent: str | None = None, *, home: Path | None = None, **settings: str
) -> Iterator[str]:
    """Run a PostgreSQL server from the local binaries; yield a URL to its `postgres` db.

    In a fresh directory under `parent`, removed afterwards; or in `home`, created on first
    use and kept (benchmarks reuse a loaded database). initdb refuses to run as root, so as
    root the server runs as `nobody`, which owns the directory. The socket lives there too;
    fsync is off, since the data is disposable. `settings` are extra server settings.
    """
    if not PG_BIN_DIRS:
        raise FileNotFoundError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    bin_dir = PG_BIN_DIRS[0]
    keep = home is not None
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="trialatlas-pg-", dir=parent))
    home.mkdir(parents=True, exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    data, port = home / "data", _free_port()
    options = {
        "listen_addresses": "''",
        "unix_socket_directories": f"'{home}'",
        "port": str(port),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    } | settings
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    if not (data / "PG_VERSION").exists():
        run([*as_user, bin_dir / "initdb", "-D", data, "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])  # fmt: skip
    flags = " ".join(f"-c {name}={value}" for name, value in options.items())
    run([*as_user, bin_dir / "pg_ctl", "-D", data, "-l", home / "server.log", "-o", flags,
         "-w", "start"])  # fmt: skip
    try:
        yield f"postgresql://postgres@/postgres?host={home}&port={port}"
    finally:
        stop = "fast" if keep else "immediate"
        subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-m", stop, "stop"],
                       capture_output=True)  # fmt: skip
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def database_url(server: str, name: str) -> str:
    """The URL of database `name` on the server that `server` (a URL) points at."""
    return server.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the session, in RAM where /dev/shm exists; skips without one."""
    if not PG_BIN_DIRS:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
                    "(scripts/test-deps.sh installs them)")  # fmt: skip
    with temporary_postgres("/dev/shm" if Path("/dev/shm").is_dir() else None) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> str:
    """A database migrated to the newest schema, copied by `postgres_url` for each test."""
    from trialatlas.store.postgres import upgrade

    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE trialatlas_template")
    upgrade(database_url(postgres_server, "trialatlas_template"))
    return "trialatlas_template"


@pytest.fixture(scope="session")
def empty_postgres_database(postgres_server: str) -> Callable[[str], str]:
    """Makes an empty, never migrated database of the given name (dropped first)."""

    def create(name: str) -> str:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        return database_url(postgres_server, name)

    return create


@pytest.fixture(scope="session")
def new_postgres_database(postgres_server: str, postgres_template: str) -> Callable[[], str]:
    """Makes fresh, migrated, empty databases (copies of the template); returns their URLs."""

    def create() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {postgres_template} STRATEGY FILE_COPY")
        return database_url(postgres_server, name)

    return create


@pytest.fixture
def postgres_url(new_postgres_database: Callable[[], str]) -> str:
    """A fresh, migrated, empty database of the test's own."""
    return new_postgres_database()


@pytest.fixture(params=["sqlite", "postgres"])
def backend_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty store of each backend in turn, for tests of behaviour both must share."""
    if request.param == "postgres":
        opened: Store = open_store(request.getfixturevalue("postgres_url"))
    else:
        factory = request.getfixturevalue("tmp_path_factory")
        opened = open_store(str(factory.mktemp("store") / "test.db"))
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def pg_corpus_store(ctgov_dir: Path, new_postgres_database: Callable[[], str]) -> Iterator[Store]:
    """`corpus_store`'s records (demo + shared corpus) in PostgreSQL; read-only for tests."""
    store = open_store(new_postgres_database())
    ingest(store, [DEMO, ctgov_dir], workers=1)
    yield store
    store.close()
