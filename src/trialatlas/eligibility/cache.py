"""Analysed criteria kept on disk, so ranking a store does not re-parse every trial.

Parsing and extracting one criteria text takes about 10 ms; matching the analysis against a
profile about 1 ms. Ranking reads a thousand candidate trials per patient, so the analyses are
kept in a small SQLite file keyed by a hash of the criteria text and of the code that analyses
it: the same text in another trial, another version or another store hits the same entry, and
any change to the parser or extractor (a new rule, a new vocabulary) misses, so stale analyses
are never served. Loaded analyses go into the extractor's in-process LRU, where
``match_study`` finds them.

The file lives in ``$TRIALATLAS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/trialatlas`` or
``~/.cache/trialatlas``); when it cannot be opened the cache works in memory only.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sqlite3
import threading
import zlib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from trialatlas.eligibility import extract
from trialatlas.eligibility.extract import CriteriaAnalysis, analyze_criteria

CACHE_DIR_ENV = "TRIALATLAS_CACHE_DIR"
# The modules (and data) an analysis depends on: their bytes are part of every key.
_ANALYSIS_SOURCES = (
    "criteria.py", "extract.py", "lexicon.py", "negation.py", "terms.py", "units.py",
    "vocabulary.py", "vocabulary.json",
)  # fmt: skip
_CHUNK = 500


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
        missing = [(k, analyze_criteria(text)) for k, text in wanted.items() if k not in found]
        self._save(missing)

    def analysis(self, text: str) -> CriteriaAnalysis:
        """The analysis of one criteria text, through the cache."""
        self.prepare([text])
        return analyze_criteria(text)

    def _load(self, keys: list[bytes]) -> dict[bytes, CriteriaAnalysis]:
        if self._db is None:
            return {}
        found: dict[bytes, CriteriaAnalysis] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, body FROM analysis WHERE key IN ({marks})", chunk
                ).fetchall()
                found.update((key, pickle.loads(zlib.decompress(body))) for key, body in rows)
        return found

    def _save(self, analyses: list[tuple[bytes, CriteriaAnalysis]]) -> None:
        if self._db is None or not analyses:
            return
        rows = [
            (key, zlib.compress(pickle.dumps(_bare(analysis), pickle.HIGHEST_PROTOCOL), 1))
            for key, analysis in analyses
        ]
        with self._lock:
            try:
                with self._db:
                    self._db.executemany("INSERT OR IGNORE INTO analysis VALUES (?, ?)", rows)
            except sqlite3.Error:
                pass  # another process holds the write lock too long: keep them in memory only


def _bare(analysis: CriteriaAnalysis) -> CriteriaAnalysis:
    """The analysis without what consumers memoised on it (rebuilt cheaply after loading)."""
    return CriteriaAnalysis(analysis.key, analysis.parsed, analysis.items)


_caches: dict[Path | None, CriteriaCache] = {}
_caches_lock = threading.Lock()


def criteria_cache(path: Path | None = None) -> CriteriaCache:
    """The process-wide cache for ``path`` (default: `default_path()`)."""
    target = path or default_path()
    with _caches_lock:
        if target not in _caches:
            _caches[target] = CriteriaCache(target)
        return _caches[target]
