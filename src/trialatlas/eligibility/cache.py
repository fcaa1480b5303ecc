"""Analysed criteria kept on disk, so ranking a store does not re-parse every trial.

Parsing and extracting one criteria text takes about 10 ms; matching the analysis against a
profile about 1 ms. Ranking reads a thousand candidate trials per patient, so the analyses are
kept in a small SQLite file keyed by a hash of the criteria text and of the code that analyses
it: the same text in another trial, another version or another store hits the same entry, and
any change to the parser or extractor (a new rule, a new vocabulary) misses, so stale analyses
are never served. Loaded analyses go into the extractor's in-process LRU, where
``match_study`` finds them.

Texts in no cache (a fresh cache meets hundreds per patient) are analysed in this process
and, when there are many, also in one worker process started on first need (`serve`): the
analyses are pure functions of the text, so which process made one does not change it.

The file lives in ``$TRIALATLAS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/trialatlas`` or
``~/.cache/trialatlas``); when it cannot be opened the cache works in memory only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import multiprocessing
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from trialatlas.eligibility import extract
from trialatlas.eligibility.extract import CriteriaAnalysis, analyze_criteria

CACHE_DIR_ENV = "TRIALATLAS_CACHE_DIR"
# The modules (and data) an analysis depends on: their bytes are part of every key.
_ANALYSIS_SOURCES = (
    "criteria.py", "extract.py", "lexicon.py", "negation.py", "terms.py", "units.py",
    "vocabulary.py", "vocabulary.json",
)  # fmt: skip
_CHUNK = 500
_FILL_BATCH = 2000  # distinct texts looked up, analysed and committed together by fill()
_FILL_TASK = 25  # texts per task sent to a fill worker
# Fewer missing texts than this are not worth a worker's round trip; a worker task is small,
# so that this process (taking tasks from the back) and the worker (from the front) meet
# near the middle whatever their speeds.
_PARALLEL_MIN = 4
_TASK = 1
_IN_FLIGHT = 2  # tasks sent ahead, so that the worker never waits for this process
_READY = "ready"
# Analysed once when a worker starts, so that imports, the gazetteer and pint are loaded
# before it takes real tasks.
_WARM_UP_TEXT = (
    "Inclusion Criteria:\n- Adults aged 18 to 75 years with type 2 diabetes mellitus\n"
    "- Platelets >= 100,000/mm3 and creatinine < 1.5 mg/dL\n"
    "Exclusion Criteria:\n- Pregnant or breastfeeding women\n- Prior chemotherapy within 4 weeks"
)


@functools.cache
def code_fingerprint() -> str:
    """A hash of the analysing code and vocabulary, so a code change empties the cache."""
    digest = hashlib.sha256()
    package = resources.files("trialatlas.eligibility")
    for name in _ANALYSIS_SOURCES:
        digest.update(package.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]


def default_path() -> Path:
    base = os.environ.get(CACHE_DIR_ENV) or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return (root if os.environ.get(CACHE_DIR_ENV) else root / "trialatlas") / "criteria.sqlite"


def _key(text: str) -> bytes:
    return hashlib.sha256(f"{code_fingerprint()}\0{text}".encode()).digest()


class CriteriaCache:
    """Analyses by criteria text: the extractor's LRU first, then the file, then the parser."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path, check_same_thread=False, timeout=30)
                db.execute("PRAGMA journal_mode = WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS analysis (key BLOB PRIMARY KEY, body BLOB NOT NULL)"
                )
                _forget_other_code(db)
                self._db = db
            except (OSError, sqlite3.Error):
                self._db = None  # read-only or full disk: parse in memory every time

    def prepare(self, texts: Iterable[str]) -> None:
        """Make the analyses of ``texts`` available to ``match_study`` without re-parsing."""
        wanted = {
            _key(text): text
            for text in dict.fromkeys(texts)
            if extract.cached(extract.analysis_key(text)) is None
        }
        if not wanted:
            return
        found = self._load(list(wanted))
        for analysis in found.values():
            extract.remember(analysis)
        self._save(_analysed([(k, text) for k, text in wanted.items() if k not in found]))

    def fill(
        self,
        texts: Iterable[str],
        workers: int = 0,
        on_progress: Callable[[FillReport], None] | None = None,
    ) -> FillReport:
        """Analyse and store every text the file does not hold yet (a whole store's, once after
        loading it), so that no patient waits for a first-time analysis.

        ``workers`` processes analyse while this one reads and writes (0: all here). Works in
        batches: memory stays flat, and an interrupted run keeps what it finished. Raises
        OSError when the file cannot be written.
        """
        if self._db is None:
            raise OSError(f"the criteria cache {self.path} cannot be opened for writing")
        report = FillReport()
        with contextlib.ExitStack() as stack:
            pool = None
            if workers:
                spawn = multiprocessing.get_context("spawn")  # no copy of this process's state
                pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=spawn))
            seen: set[bytes] = set()
            batch: dict[bytes, str] = {}
            for text in texts:
                report.read += 1
                key = _key(text)
                if key not in seen:
                    seen.add(key)
                    batch[key] = text
                if len(batch) >= _FILL_BATCH:
                    self._fill_batch(batch, pool, report, on_progress)
            self._fill_batch(batch, pool, report, on_progress)
        return report

    def _fill_batch(
        self,
        batch: dict[bytes, str],
        pool: ProcessPoolExecutor | None,
        report: FillReport,
        on_progress: Callable[[FillReport], None] | None,
    ) -> None:
        stored = self._stored(list(batch))
        keys = [key for key in batch if key not in stored]
        texts = [batch[key] for key in keys]
        chunks = [texts[i : i + _FILL_TASK] for i in range(0, len(texts), _FILL_TASK)]
        bodies = pool.map(_fresh_bodies, chunks) if pool else map(_fresh_bodies, chunks)
        self._save(list(zip(keys, itertools.chain.from_iterable(bodies), strict=True)), strict=True)
        report.distinct += len(batch)
        report.analysed += len(keys)
        batch.clear()
        if on_progress:
            on_progress(report)

    def analysis(self, text: str) -> CriteriaAnalysis:
        """The analysis of one criteria text, through the cache."""
        self.prepare([text])
        return analyze_criteria(text)

    def _load(self, keys: list[bytes]) -> dict[bytes, CriteriaAnalysis]:
        rows = self._select("key, body", keys)
        return {key: pickle.loads(zlib.decompress(body)) for key, body in rows}

    def _stored(self, keys: list[bytes]) -> set[bytes]:
        """Which of ``keys`` the file holds (without loading their analyses)."""
        return {key for (key,) in self._select("key", keys)}

    def _select(self, columns: str, keys: list[bytes]) -> list[tuple[Any, ...]]:
        """``columns`` of the rows of ``keys`` the file holds, asked in chunks (SQLite limits
        the parameters of a statement)."""
        if self._db is None:
            return []
        rows: list[tuple[Any, ...]] = []
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                query = f"SELECT {columns} FROM analysis WHERE key IN ({marks})"
                rows.extend(self._db.execute(query, chunk))
        return rows

    def _save(self, rows: list[tuple[bytes, bytes]], *, strict: bool = False) -> None:
        """Store analysed rows; a ranking (not ``strict``) shrugs off a busy or full file."""
        if self._db is None or not rows:
            return
        with self._lock:
            try:
                with self._db:
                    self._db.executemany("INSERT OR IGNORE INTO analysis VALUES (?, ?)", rows)
            except sqlite3.Error:
                if strict:
                    raise
                # another process holds the write lock too long: keep them in memory only


@dataclass
class FillReport:
    """Progress of `CriteriaCache.fill`: texts read, distinct among them, newly analysed."""

    read: int = 0
    distinct: int = 0
    analysed: int = 0


def _forget_other_code(db: sqlite3.Connection) -> None:
    """Empty the file when its analyses were made by other code (keys hash the code, so they
    would never be read again): a cache filled for a whole registry is big, and an upgrade
    must not leave a dead copy behind."""
    db.execute("CREATE TABLE IF NOT EXISTS code (fingerprint TEXT NOT NULL)")
    stored = db.execute("SELECT fingerprint FROM code").fetchone()
    if stored is not None and stored[0] == code_fingerprint():
        return
    with db:
        db.execute("DELETE FROM analysis")
        db.execute("DELETE FROM code")
        db.execute("INSERT INTO code VALUES (?)", (code_fingerprint(),))


def _body(analysis: CriteriaAnalysis) -> bytes:
    """The stored form of an analysis, without what consumers memoised on it (rebuilt
    cheaply after loading)."""
    bare = CriteriaAnalysis(analysis.key, analysis.parsed, analysis.items)
    return zlib.compress(pickle.dumps(bare, pickle.HIGHEST_PROTOCOL), 1)


def _analysed(todo: list[tuple[bytes, str]]) -> list[tuple[bytes, bytes]]:
    """Rows (key, body) of texts in no cache, each analysis also put in the LRU.

    With many, the worker takes tasks from the front while this process analyses from the
    back, until they meet; whatever the worker cannot do (it died) is done here.
    """
    if len(todo) < _PARALLEL_MIN or not _worker_lock.acquire(blocking=False):
        return _here(todo)  # few, or another thread has the worker
    try:
        worker = _worker()
        if worker is None:
            return _here(todo)
        tasks = [todo[start : start + _TASK] for start in range(0, len(todo), _TASK)]
        rows: list[tuple[bytes, bytes]] = []
        sent: deque[list[tuple[bytes, str]]] = deque()
        front, back = 0, len(tasks)
        try:
            while True:
                while sent and worker.answered():
                    rows.extend(_received(sent.popleft(), worker.receive()))
                while front < back and len(sent) < _IN_FLIGHT:
                    worker.send([text for _, text in tasks[front]])
                    sent.append(tasks[front])
                    front += 1
                if front < back:
                    back -= 1
                    rows.extend(_here(tasks[back]))
                elif sent:
                    rows.extend(_received(sent.popleft(), worker.receive()))
                else:
                    return rows
        except (OSError, EOFError, pickle.UnpicklingError):  # the worker died: do it here
            worker.stop()
            for task in [*sent, *tasks[front:back]]:
                rows.extend(_here(task))
            return rows
    finally:
        _worker_lock.release()


def _fresh_bodies(texts: list[str]) -> list[bytes]:
    """Stored forms of new analyses, outside the LRU (a fill meets each text once)."""
    return [_body(extract.fresh_analysis(text)) for text in texts]


def _here(todo: list[tuple[bytes, str]]) -> list[tuple[bytes, bytes]]:
    return [(key, _body(analyze_criteria(text))) for key, text in todo]


def _received(task: list[tuple[bytes, str]], bodies: list[bytes]) -> list[tuple[bytes, bytes]]:
    for body in bodies:
        extract.remember(pickle.loads(zlib.decompress(body)))
    return [(key, body) for (key, _), body in zip(task, bodies, strict=True)]


class _Worker:
    """A helper process (`serve`) that analyses lists of texts sent down a pipe and answers
    each with their stored forms. A plain subprocess, not multiprocessing: it never runs
    this program's main module again, and daemonic processes may start it too."""

    def __init__(self) -> None:
        paths = os.pathsep.join(path for path in sys.path if path)  # the same trialatlas
        self._process = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import serve; serve({code_fingerprint()!r})"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": paths},
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        # multiprocessing's framing (length-prefixed pickles) over the child's stdin/stdout
        self._to = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._from = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        self.ready = False
        self.dead = False

    def answered(self) -> bool:
        """Whether an answer is waiting (without blocking)."""
        return self._from.poll(0)

    def send(self, texts: list[str]) -> None:
        self._to.send(texts)

    def receive(self) -> Any:
        return self._from.recv()

    def stop(self) -> None:
        self.dead = True
        self._process.kill()
        self._to.close()
        self._from.close()


_worker_process: _Worker | None = None
_worker_lock = threading.Lock()


def _worker() -> _Worker | None:
    """The worker once it is up and warm; the first call starts it (None until it is ready).
    None for good on a single core, or once it has died."""
    global _worker_process
    if _worker_process is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        if cores < 2:
            return None
        try:
            _worker_process = _Worker()
        except OSError:
            return None
    worker = _worker_process
    if worker.dead:
        return None
    if not worker.ready:
        try:
            if not worker.answered():
                return None
            worker.ready = worker.receive() == _READY
        except (OSError, EOFError, pickle.UnpicklingError):
            worker.ready = False
        if not worker.ready:
            worker.stop()
            return None
    return worker


def start_worker() -> None:
    """Start the worker now, in the background: a ranking calls this before its retrieval,
    so that the worker is warm when the first candidates need analysing."""
    with _worker_lock:
        _worker()


def serve(fingerprint: str) -> None:
    """The worker's loop: warm up, say so, then answer until stdin closes. A worker whose
    code is not the asker's (changed on disk meanwhile) exits at once, unready."""
    if fingerprint != code_fingerprint():
        return
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # whatever else writes to stdout goes to stderr, not into the answers
    questions = Connection(0, writable=False)
    extract.fresh_analysis(_WARM_UP_TEXT)  # imports, the gazetteer and pint, loaded now
    answers.send(_READY)
    while True:
        try:
            texts = questions.recv()
        except EOFError:
            return
        answers.send([_body(extract.fresh_analysis(text)) for text in texts])


_caches: dict[Path | None, CriteriaCache] = {}
_caches_lock = threading.Lock()


def criteria_cache(path: Path | None = None) -> CriteriaCache:
    """The process-wide cache for ``path`` (default: `default_path()`)."""
    target = path or default_path()
    with _caches_lock:
        if target not in _caches:
            _caches[target] = CriteriaCache(target)
        return _caches[target]
