"""The ingest pipeline: paths -> units -> study documents -> prepared rows -> the store.

Decoding, validation, hashing and every row the store keeps (columns, facet terms, geocoded
places, synonym evidence, index text) are pure functions of a unit's bytes, so they run in
worker processes while the parent reads archives and writes to the store; the store write
is the only serial step. Each input PATH is one batch: an NCT id
seen twice in one batch is an error for the second occurrence, while the same id in a
later PATH is a new version.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from trialatlas.records.document import content_hash, encode, nct_id_of, study_columns
from trialatlas.records.errors import RecordError
from trialatlas.records.index_text import index_text
from trialatlas.records.readers import ReadFailure, Unit, decode_unit, read_units
from trialatlas.search.geo import location_rows
from trialatlas.search.synonyms import link_rows
from trialatlas.store.base import Change, PreparedStudy, Store
from trialatlas.store.batch import column_values, term_rows

# Studies a store write takes in one transaction. Larger batches amortise each commit and
# full-text segment flush (store CPU per study 375 -> 341 us from 1,000 to 4,000); a
# process killed mid-ingest loses at most the batch in progress, which a rerun writes.
WRITE_BATCH = 4000
UNITS_PER_CHUNK = 64
# Units the reader thread keeps ready; it blocks beyond that, so memory stays flat.
READ_AHEAD = 4 * UNITS_PER_CHUNK
# Workers keep preparing while the parent writes a batch, so enough must be in flight to
# last through a write (about two batches' worth); fewer left them idle half the time.
CHUNKS_IN_FLIGHT = 2 * WRITE_BATCH // UNITS_PER_CHUNK
CHUNKS_IN_FLIGHT_PER_WORKER = 4


@dataclass
class IngestReport:
    """What an ingest did: counts by outcome and every failure with its place and reason."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[ReadFailure] = field(default_factory=list)
    stage: str = "ingest"  # then "indexing": the store finishing its indexes, records all in

    @property
    def processed(self) -> int:
        return self.added + self.updated + self.unchanged + len(self.failures)

    def count(self, change: Change) -> None:
        setattr(self, change.value, getattr(self, change.value) + 1)


IndexForm = Callable[[tuple[str, ...]], Any] | None


class StoreForms(NamedTuple):
    """A store's index_form and document_form, which the workers apply (see Store)."""

    index: IndexForm = None
    document: Callable[[bytes], bytes] | None = None

    @classmethod
    def of(cls, store: Store) -> StoreForms:
        return cls(store.index_form, store.document_form)


AS_IS = StoreForms()


def prepare(
    location: str, document: object, forms: StoreForms = AS_IS
) -> PreparedStudy | ReadFailure:
    """Validate one document and compute every row the store writes for it."""
    try:
        nct_id = nct_id_of(document)
        assert isinstance(document, dict)
        columns = study_columns(document)
        text = index_text(document)
        data = encode(document)
        return PreparedStudy(
            location=location,
            nct_id=nct_id,
            document=forms.document(data) if forms.document else data,
            content_hash=content_hash(document),
            last_update=columns.last_update.date,
            values=column_values(columns),
            index_text=text,
            terms=tuple(term_rows(columns)),
            places=tuple(location_rows(document)),
            links=tuple(link_rows(columns)),
            index_form=forms.index(text) if forms.index else None,
        )
    except RecordError as exc:
        where = f"{location} ({exc.location})" if exc.location else location
        return ReadFailure(where, exc.reason)


def prepare_unit(
    unit: Unit | ReadFailure, forms: StoreForms = AS_IS
) -> tuple[str, list[PreparedStudy | ReadFailure]]:
    """Everything in one unit, prepared, with the unit's origin; runs in worker processes."""
    if isinstance(unit, ReadFailure):
        return "", [unit]
    items = [
        item if isinstance(item, ReadFailure) else prepare(*item, forms)
        for item in decode_unit(unit)
    ]
    return unit.origin, items


def prepare_units(units: list[Unit | ReadFailure], forms: StoreForms) -> bytes:
    """A chunk of units for one worker round trip, pickled here in the worker.

    The pool's result thread then only moves bytes; unpickling rows there would contend
    for the GIL with the store write on every row. The writer unpickles between batches.
    """
    prepared = [prepare_unit(unit, forms) for unit in units]
    return pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL)


def _read_ahead(units: Iterable[Unit | ReadFailure]) -> Iterator[Unit | ReadFailure]:
    """``units``, read in a thread while the caller works.

    Reading is decompression and file I/O, which release the GIL, so it overlaps the store
    write instead of adding to it (about a tenth of the writer's time for gzip input).
    The thread stops when the caller stops early, and an error in it is raised here.
    """
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(READ_AHEAD)
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for unit in units:
                if not put((True, unit)):
                    return
        except BaseException as exc:  # handed to the caller's thread, which raises it
            put((False, exc))
            return
        put((False, None))

    reader = threading.Thread(target=read, name="trialatlas-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            ok, item = ready.get()
            if not ok:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        reader.join()


def _prepared(
    units: Iterable[Unit | ReadFailure], workers: int, forms: StoreForms
) -> Iterator[tuple[str, list[PreparedStudy | ReadFailure]]]:
    """Prepared units in input order; with workers, at most a few chunks are in flight.

    `Executor.map` would read its whole input ahead, holding a large archive in memory;
    a bounded window of chunks keeps memory flat however big the input is. (Not
    `multiprocessing.Pool`: its worker-handler thread spins while results wait in its pipe,
    which cost the writer process a sixth of its CPU.)
    """
    if workers == 0:
        yield from (prepare_unit(unit, forms) for unit in units)
        return
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context)
    try:
        in_flight: deque[Future[bytes]] = deque()
        iterator = iter(units)
        while chunk := list(itertools.islice(iterator, UNITS_PER_CHUNK)):
            in_flight.append(pool.submit(prepare_units, chunk, forms))
            if len(in_flight) >= max(CHUNKS_IN_FLIGHT, CHUNKS_IN_FLIGHT_PER_WORKER * workers):
                yield from pickle.loads(in_flight.popleft().result())
        while in_flight:
            yield from pickle.loads(in_flight.popleft().result())
    finally:  # a failed write leaves chunks in flight: drop those not started
        pool.shutdown(cancel_futures=True)


def ingest(
    store: Store,
    paths: Iterable[Path],
    *,
    workers: int = 0,
    on_progress: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Ingest every study found under ``paths`` into ``store``; never raises for bad records.

    ``workers`` processes decode and validate while this one writes; 0 does it all here.
    Files are taken in order, so a later snapshot of a trial becomes its newer version.
    Within one file or archive an NCT id may appear once; a repeat is reported as failed.
    """
    report = IngestReport()
    pending: list[PreparedStudy] = []
    seen: dict[str, str] = {}
    current_origin = ""

    def flush() -> None:
        for change in store.write(pending):
            report.count(change)
        pending.clear()
        if on_progress:
            on_progress(report)

    units = _read_ahead(unit for path in paths for unit in read_units(path))
    with store.bulk():  # text indexing overlaps the next batch's write
        for origin, items in _prepared(units, workers, StoreForms.of(store)):
            if origin and origin != current_origin:
                seen.clear()  # a new file: its ids may repeat earlier ones as new versions
                current_origin = origin
            for item in items:
                if isinstance(item, ReadFailure):
                    report.failures.append(item)
                elif item.nct_id in seen:
                    first = seen[item.nct_id]
                    report.failures.append(
                        ReadFailure(
                            item.location,
                            f"duplicate NCT id {item.nct_id} in the same file (first at {first})",
                        )
                    )
                else:
                    seen[item.nct_id] = item.location
                    pending.append(item)
            if len(pending) >= WRITE_BATCH:
                flush()
        flush()
        report.stage = "indexing"  # leaving bulk() can take a while: say what it waits for
        if on_progress:
            on_progress(report)
    if report.added or report.updated:
        store.optimize()
    return report
