"""Scoring patient-to-trial rankings the way TREC Clinical Trials does.

The benchmark (bench/trec.py) and the tests share these: reading the topics and qrels files,
NDCG@k with graded gains (eligible 2, excluded 1, not relevant 0, as in the official TREC CT
2021 scoring), precision@k with only eligible trials relevant, and the pairwise AUC of a score
that should put eligible trials above excluded ones. Unjudged trials count as not relevant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from defusedxml import ElementTree

ELIGIBLE, EXCLUDED, NOT_RELEVANT = 2, 1, 0
Qrels = dict[str, dict[str, int]]  # topic -> NCT id -> grade


def load_topics(path: Path) -> dict[str, str]:
    """Topic number -> patient note, from a TREC CT topics file (hardened XML parsing)."""
    root = ElementTree.parse(path).getroot()
    return {topic.get("number", ""): " ".join((topic.text or "").split()) for topic in root}


def load_qrels(path: Path) -> Qrels:
    """Topic -> NCT id -> grade, from lines `topic 0 NCT-id grade`."""
    qrels: Qrels = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            topic, _, nct_id, grade = parts
            qrels.setdefault(topic, {})[nct_id] = int(grade)
    return qrels


def ndcg_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """NDCG@k with the grades as linear gains (trec_eval's ndcg_cut); 0 with nothing to find."""
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    best = sum(g / math.log2(n + 2) for n, g in enumerate(ideal))
    if best == 0:
        return 0.0
    got = sum(grades.get(nct_id, 0) / math.log2(n + 2) for n, nct_id in enumerate(ranked[:k]))
    return got / best


def precision_at(
    ranked: Sequence[str], grades: Mapping[str, int], k: int = 10, relevant: int = ELIGIBLE
) -> float:
    """Share of the first k that reach grade ``relevant`` (a short list still divides by k)."""
    return sum(grades.get(nct_id, 0) >= relevant for nct_id in ranked[:k]) / k


def pairwise_auc(
    scores: Mapping[str, float],
    grades: Mapping[str, int],
    positive: int = ELIGIBLE,
    negative: int = EXCLUDED,
) -> tuple[float, int]:
    """(concordant pairs, pairs) of positive-vs-negative judged trials; a tie counts half.

    Returned as counts, not a ratio, so pairs from many topics pool into one AUC.
    """
    pos = [scores.get(n, 0.0) for n, g in grades.items() if g == positive]
    neg = [scores.get(n, 0.0) for n, g in grades.items() if g == negative]
    concordant = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return concordant, len(pos) * len(neg)
