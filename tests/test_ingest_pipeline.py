"""The ingest pipeline around the store: reading ahead, worker processes, failing stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import trialatlas.ingest as ingest_module
from trialatlas.ingest import ingest
from trialatlas.records.readers import ReadFailure, Unit
from trialatlas.store.base import Change, PreparedStudy
from trialatlas.store.sqlite import SQLiteStore

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "trialatlas-read-ahead"]


class FailingStore(SQLiteStore):
    """A store whose second write fails, as a full disk would."""

    writes = 0

    def write(self, studies: Sequence[PreparedStudy]) -> list[Change]:
        self.writes += 1
        if self.writes == 2:
            raise OSError("disk full")
        return super().write(studies)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_failing_store_stops_the_ingest_and_its_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(ingest_module, "WRITE_BATCH", 5)
    store = FailingStore(tmp_path / "t.db")
    with pytest.raises(OSError, match="disk full"):
        ingest(store, [DEMO], workers=workers)
    assert store.count() == 5, "the first batch stays committed"
    assert not _reader_threads(), "the read-ahead thread outlives the ingest"
    store.close()


def test_an_error_while_reading_reaches_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ingest_module.read_units

    def breaking(path: Path) -> Iterator[Unit | ReadFailure]:
        yield from list(real(path))[:3]
        raise RuntimeError("device went away")

    monkeypatch.setattr(ingest_module, "read_units", breaking)
    store = SQLiteStore(tmp_path / "t.db")
    with pytest.raises(RuntimeError, match="device went away"):
        ingest(store, [DEMO], workers=1)
    assert not _reader_threads()
    store.close()


def test_workers_and_one_process_store_the_same(tmp_path: Path) -> None:
    stores = [SQLiteStore(tmp_path / f"{n}.db") for n in (0, 2)]
    reports = [ingest(store, [DEMO], workers=n) for store, n in zip(stores, (0, 2), strict=True)]
    assert reports[0].added == reports[1].added == len(list(DEMO.glob("NCT*.json")))
    documents = [list(store.iter_documents()) for store in stores]
    assert documents[0] == documents[1]
    for store in stores:
        store.close()


def test_progress_says_when_every_record_is_in_and_the_indexes_are_being_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "WRITE_BATCH", 5)
    store = SQLiteStore(tmp_path / "t.db")
    seen: list[tuple[str, int]] = []
    report = ingest(store, [DEMO], on_progress=lambda r: seen.append((r.stage, r.processed)))
    store.close()
    assert [stage for stage, _ in seen[:-1]] == ["ingest"] * (len(seen) - 1)
    assert seen[-1] == ("indexing", report.processed)
    assert 5 < report.processed == report.added
