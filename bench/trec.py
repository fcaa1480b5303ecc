"""Patient-to-trial matching on TREC Clinical Trials 2021, against BM25, and its speed.

    .venv/bin/python bench/trec.py [--topics N] [--sweep] [--no-speed] [--large DB] [--terms N]

Quality, over the shared corpus (data/demo + ../shared/data/ctgov, ingested once into
bench/out/trec-corpus.db) and the 75 topics of ../shared/data/trec-ct/2021, side by side in
the same run:

- BM25: the search layer's ranking of the note's words (stop words dropped), nothing else;
- trialatlas: `rank_trials` (profile read from the note, retrieval with age/sex pre-filters,
  every candidate matched criterion by criterion) with ``any_status`` (TREC ignores status).

Metrics, as TREC CT 2021 scores them: NDCG@10 with gains eligible 2, excluded 1, not relevant
0 (unjudged trials count 0; judged trials missing from the corpus are left out of the ideal
ranking); P@10 with only eligible trials relevant; AUC of eligible (2) against excluded (1)
trials over the judged pairs of each topic; and NDCG@10 of reranking only each topic's
judged trials. The ranking's weights were tuned on these 2021 topics (``--sweep`` shows the
grid): there is no held-out set, so the figures are optimistic by that much.

Speed: one patient against the store, top 50 with explanations (`rank_trials`, recruiting
first), for 20 TREC patients: the profile read from the note alone (its diagnoses make a
short query), then with the note's words too (up to ``rank.MAX_QUERY_TERMS`` query terms;
``--terms`` changes it for the quality part). Each for a fresh
process with an empty criteria cache, a fresh process after `trialatlas analyze-criteria`
analysed the whole store ahead (timed too), and a warm process; BM25 alone over the notes'
words (top 50) is the baseline. Then the same against
~560,000 studies: bench/out/search-560000.db when bench/search.py has built it, else one
built here (``trialatlas synth`` + ``ingest``, several minutes).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SHARED = ROOT.parent / "shared" / "data"
TREC = SHARED / "trec-ct" / "2021"
CORPUS_DB = OUT / "trec-corpus.db"
LARGE_DB = OUT / "search-560000.db"  # built by bench/search.py; reused when complete
OWN_LARGE_DB = OUT / "match-560k.db"
CLI = [sys.executable, "-m", "trialatlas.cli"]
SPEED_TOPICS = 20
LIMIT = 50

sys.path.insert(0, str(ROOT / "src"))

from trialatlas.eligibility import rank  # noqa: E402
from trialatlas.eligibility.evaluate import (  # noqa: E402
    load_qrels,
    load_topics,
    ndcg_at,
    pairwise_auc,
    precision_at,
)
from trialatlas.eligibility.profile import Profile, profile_from_note  # noqa: E402
from trialatlas.search import SearchRequest  # noqa: E402
from trialatlas.store.sqlite import SQLiteStore  # noqa: E402


def run(cmd: list[str]) -> None:
    print("  $", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def corpus_store() -> SQLiteStore:
    """bench/out/trec-corpus.db: data/demo and the shared corpus, ingested once."""
    if not CORPUS_DB.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        partial = CORPUS_DB.with_suffix(".partial.db")
        run([*CLI, "ingest", "-q", "--database", str(partial), "data/demo", str(SHARED / "ctgov")])
        partial.rename(CORPUS_DB)
    return SQLiteStore(CORPUS_DB)


def large_store() -> Path:
    """~560,000 studies: bench/search.py's store if complete, else one built here."""
    if (OUT / "search-560000.ingest.txt").exists():
        return LARGE_DB
    if not OWN_LARGE_DB.exists():
        synthetic = OUT / "synthetic-560k.jsonl.gz"
        if not synthetic.exists():
            run([*CLI, "synth", "--count", "560000", "--out", str(synthetic),
                 "--database", str(CORPUS_DB)])  # fmt: skip
        partial = OWN_LARGE_DB.with_suffix(".partial.db")
        run([*CLI, "ingest", "-q", "--database", str(partial), "data/demo",
             str(SHARED / "ctgov"), str(synthetic)])  # fmt: skip
        partial.rename(OWN_LARGE_DB)
    return OWN_LARGE_DB


# --- quality -------------------------------------------------------------------------------


def bm25_expression(note: str) -> str:
    """The baseline query: the note's words in order (150 at most: the search layer takes
    200), no diagnoses, no selection."""
    return " OR ".join(list(dict.fromkeys(rank.note_words(note)))[:150])


@dataclass
class Tally:
    """Sums over topics (means at the end) and pooled AUC pairs."""

    ndcg: float = 0.0
    precision: float = 0.0
    judged_ndcg: float = 0.0
    concordant: float = 0.0
    pairs: int = 0
    topics: int = 0

    def add(self, ranked: list[str], judged: dict[str, float], grades: dict[str, int]) -> None:
        self.ndcg += ndcg_at(ranked, grades)
        self.precision += precision_at(ranked, grades)
        order = sorted(judged, key=lambda n: (-judged[n], n))
        self.judged_ndcg += ndcg_at(order, grades)
        concordant, pairs = pairwise_auc(judged, grades)
        self.concordant += concordant
        self.pairs += pairs
        self.topics += 1

    def row(self) -> tuple[float, float, float, float]:
        n = max(self.topics, 1)
        auc = self.concordant / max(self.pairs, 1)
        return self.ndcg / n, self.precision / n, auc, self.judged_ndcg / n


def judged_grades(
    store: SQLiteStore, qrels: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """The judgements whose trial is in the store (the rest can be found by neither side)."""
    present = {n for (n,) in store.connection.execute("SELECT nct_id FROM study")}
    return {t: {n: g for n, g in q.items() if n in present} for t, q in qrels.items()}


def quality(store: SQLiteStore, topics: dict[str, str], qrels: dict[str, dict[str, int]]) -> None:
    bm25, ours, matcher = Tally(), Tally(), Tally()
    started = time.perf_counter()
    for number, note in topics.items():
        grades = qrels.get(number, {})
        profile = profile_from_note(note)
        expression = bm25_expression(note)
        top = rank.bm25_hits(store, SearchRequest(term=expression), 10)
        request = SearchRequest(term=expression, ids=frozenset(grades))
        scores = {h.nct_id: h.score for h in rank.bm25_hits(store, request, len(grades))}
        bm25.add([h.nct_id for h in top], {n: scores.get(n, 0.0) for n in grades}, grades)
        ranked = rank.rank_trials(store, profile, limit=10, any_status=True, note=note)
        judged = rank.score_trials(store, profile, list(grades), note=note)
        ids = [t.nct_id for t in ranked]
        ours.add(ids, {t.nct_id: t.score for t in judged}, grades)
        matcher.add(ids, {t.nct_id: t.match.score for t in judged}, grades)
    elapsed = time.perf_counter() - started
    b, o, e = bm25.row(), ours.row(), matcher.row()
    judged = sum(len(qrels.get(t, {})) for t in topics)
    print(f"\nTREC CT 2021: {len(topics)} topics, {judged:,} judged pairs in the corpus, "
          f"{bm25.pairs:,} eligible-vs-excluded pairs ({elapsed:.0f}s)")  # fmt: skip
    print("weights tuned on these 2021 topics (no held-out set)\n")
    print(f"{'metric':<48} {'BM25':>8} {'trialatlas':>11} {'ratio':>7}")
    table = (
        ("NDCG@10 (eligible 2, excluded 1)", b[0], o[0]),
        ("P@10 (eligible only)", b[1], o[1]),
        ("AUC eligible vs excluded, final score", b[2], o[2]),
        ("AUC eligible vs excluded, matcher's score", b[2], e[2]),
        ("NDCG@10 reranking only the judged trials", b[3], o[3]),
    )
    for name, base, value in table:
        print(f"{name:<48} {base:>8.4f} {value:>11.4f} {value / base if base else 0:>6.2f}x")
    print("goals: NDCG@10 >= 1.30x BM25; AUC >= 0.75")
    ceiling = 1.3 * b[3]
    print(f"on the judged trials alone, 1.30x BM25's NDCG@10 is {ceiling:.3f}"
          + (": above 1, which no ranking reaches" if ceiling > 1 else ""))  # fmt: skip


def sweep(store: SQLiteStore, topics: dict[str, str], qrels: dict[str, dict[str, int]]) -> None:
    """The tuning grid: every candidate matched once, then re-scored under each weighting."""
    cached = []
    for number, note in topics.items():
        profile = profile_from_note(note)
        found = rank.retrieve(store, profile, note=note, any_status=True)
        everything = rank.rank_candidates(store, profile, found, limit=len(found), any_status=True)
        judged = rank.score_trials(store, profile, list(qrels.get(number, {})), note=note)
        cached.append((qrels.get(number, {}), everything, judged))
    print(f"\n{'retrieval weight':<18} {'NDCG@10':>8} {'P@10':>6} {'AUC final':>10}")
    for weight in (0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 1.0):

        def score(trial: rank.RankedTrial, w: float = weight) -> float:
            return w * trial.retrieval + (1 - w) * trial.match.score

        tally = Tally()
        for grades, everything, judged in cached:
            ranked = sorted(everything, key=lambda t: -score(t))
            tally.add([t.nct_id for t in ranked], {t.nct_id: score(t) for t in judged}, grades)
        ndcg, precision, auc, _ = tally.row()
        print(f"{weight:<18} {ndcg:>8.4f} {precision:>6.4f} {auc:>10.4f}")


# --- speed ---------------------------------------------------------------------------------


def _speed_worker(
    database: str, notes: list[str], cache_dir: str, rounds: int, with_note: bool
) -> list[list[float]]:
    """In a fresh process: per round, the seconds each patient took to rank (top 50)."""
    os.environ["TRIALATLAS_CACHE_DIR"] = cache_dir
    store = SQLiteStore(Path(database))
    rank.bm25_hits(store, SearchRequest(term="cancer"), 1)  # load the column index first
    patients = [(profile_from_note(note), note if with_note else None) for note in notes]
    timings = []
    for _ in range(rounds):
        timings.append([_timed(lambda p=p, n=n: _rank(store, p, n)) for p, n in patients])
    store.close()
    return timings


def _rank(store: SQLiteStore, profile: Profile, note: str | None) -> None:
    trials = rank.rank_trials(store, profile, limit=LIMIT, note=note)
    assert all(t.match.criteria or t.match.structured for t in trials)


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"{label:<60} p50 {statistics.median(ordered) * 1000:>7.0f} ms   "
            f"p95 {p95 * 1000:>7.0f} ms   max {ordered[-1] * 1000:>7.0f} ms")  # fmt: skip


def speed(database: Path, notes: list[str]) -> None:
    """Top 50 for each patient: the profile read from a note alone, then with the note's words."""
    store = SQLiteStore(database)
    count = store.count()
    rank.bm25_hits(store, SearchRequest(term="cancer"), 1)
    baseline = [
        _timed(lambda n=note: rank.bm25_hits(store, SearchRequest(term=bm25_expression(n)), LIMIT))
        for note in notes
    ]
    store.close()
    print(f"\nspeed: {database.name}, {count:,} studies, {len(notes)} TREC patients, top {LIMIT}")
    print(_summary("BM25 alone, the notes' words (baseline)", baseline))
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="trialatlas-cache-") as analysed:
        started = time.perf_counter()
        env = {**os.environ, "TRIALATLAS_CACHE_DIR": analysed}
        done = subprocess.run(
            [*CLI, "analyze-criteria", "--quiet", "--database", str(database)],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        print(f"trialatlas analyze-criteria: {done.stdout.split(';')[0]}, "
              f"{time.perf_counter() - started:.0f}s")  # fmt: skip
        for with_note, what in ((False, "profile"), (True, "profile + note words")):
            job = (str(database), notes)
            with (
                tempfile.TemporaryDirectory(prefix="trialatlas-cache-") as empty,
                spawn.Pool(1) as pool,
            ):
                (cold,) = pool.apply(_speed_worker, (*job, empty, 1, with_note))
            with spawn.Pool(1) as pool:
                ready, warm = pool.apply(_speed_worker, (*job, analysed, 2, with_note))
            print(_summary(f"{what}: fresh process, empty criteria cache", cold))
            print(_summary(f"{what}: fresh process, store analysed ahead", ready))
            print(_summary(f"{what}: warm process", warm))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topics", type=int, default=0, help="Only the first N topics.")
    parser.add_argument("--sweep", action="store_true", help="Print the tuning grid too.")
    parser.add_argument("--no-speed", action="store_true", help="Quality only.")
    parser.add_argument("--no-quality", action="store_true", help="Speed only.")
    parser.add_argument("--large", type=Path, help="A ~560k-study SQLite store to time.")
    parser.add_argument(
        "--terms", type=int, help=f"Query terms per patient (default {rank.MAX_QUERY_TERMS})."
    )
    args = parser.parse_args()
    if args.terms:
        rank.MAX_QUERY_TERMS = args.terms
    if not TREC.is_dir():
        sys.exit(f"{TREC} not found: the benchmark needs ../shared/data")
    topics = load_topics(TREC / "topics2021.xml")
    if args.topics:
        topics = dict(list(topics.items())[: args.topics])
    store = corpus_store()
    qrels = judged_grades(store, load_qrels(TREC / "qrels2021.txt"))
    if not args.no_quality:
        with tempfile.TemporaryDirectory(prefix="trialatlas-cache-") as cache_dir:
            os.environ["TRIALATLAS_CACHE_DIR"] = cache_dir  # never reuse another run's analyses
            quality(store, topics, qrels)
            if args.sweep:
                sweep(store, topics, qrels)
    store.close()
    if args.no_speed:
        return
    notes = list(topics.values())[:SPEED_TOPICS]
    speed(CORPUS_DB, notes)
    speed(args.large or large_store(), notes)


if __name__ == "__main__":
    main()
