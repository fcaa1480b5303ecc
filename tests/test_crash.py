"""A killed ingest leaves a consistent store, a rerun completes it, readers never block."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from trialatlas.store.text_index import GENERATION_SQL, text_index_path

ARCHIVE = "xml/ctgov-xml-6786-2023-02.tar.gz"


def _consistent(path: Path, *, text_complete: bool) -> int:
    """Assert every study has its version, and the text index holds exactly the studies up
    to its generation (all of them once complete); return the study count."""
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    studies = db.execute("SELECT count(*) FROM study").fetchone()[0]
    orphans = db.execute(
        "SELECT count(*) FROM study s LEFT JOIN study_version v"
        " ON v.nct_id = s.nct_id AND v.version = s.version WHERE v.nct_id IS NULL"
    ).fetchone()[0]
    versions = db.execute("SELECT count(*) FROM study_version").fetchone()[0]
    db.execute("ATTACH DATABASE ? AS fts", (str(text_index_path(path)),))
    assert db.execute("PRAGMA fts.integrity_check").fetchone()[0] == "ok"
    (shown,) = db.execute(GENERATION_SQL).fetchone()
    due = db.execute("SELECT count(*) FROM study WHERE generation <= ?", (shown,)).fetchone()[0]
    marked = db.execute("SELECT count(*) FROM fts.indexed").fetchone()[0]
    indexed = db.execute("SELECT count(*) FROM fts.study_fts_docsize").fetchone()[0]
    db.close()
    assert orphans == 0
    assert versions == studies, "a fresh ingest stores exactly one version per study"
    assert indexed == marked >= due  # a catch-up commits its last studies with the generation
    if text_complete:
        assert indexed == studies
    return studies


def _by_value_indexes(path: Path) -> set[str]:
    """Which of the indexes a load into an empty store builds at its end are there."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
        return {"study_term_by_value", "location_by_city"} & {name for (name,) in rows}
    finally:
        db.close()


def _count(path: Path) -> int:
    db = sqlite3.connect(path, timeout=1)
    try:
        return db.execute("SELECT count(*) FROM study").fetchone()[0]
    finally:
        db.close()


def test_sigkill_mid_ingest_then_rerun(ctgov_dir: Path, tmp_path: Path) -> None:
    database = tmp_path / "crash.db"
    command = [
        sys.executable, "-m", "trialatlas.cli", "ingest", "-q", "--database", str(database),
        str(ctgov_dir / ARCHIVE),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    seen = 0
    reads = 0
    while time.monotonic() < deadline and process.poll() is None:
        if database.exists():
            try:
                seen = _count(database)  # a reader during the ingest: must never fail
                reads += 1
            except sqlite3.OperationalError as exc:
                assert "no such table" in str(exc), exc  # only before the schema exists
        if seen >= 2000:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the ingest finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert reads > 5
    partial = _consistent(database, text_complete=False)
    assert 2000 <= partial < 6786
    assert _by_value_indexes(database) == set(), "the load was killed before building them"

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.startswith(f"{6786 - partial:,} added, 0 updated, {partial:,} unchanged")
    assert _consistent(database, text_complete=True) == 6786
    assert _by_value_indexes(database) == {"study_term_by_value", "location_by_city"}
