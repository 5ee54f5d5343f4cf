"""Precision and recall per type over the generated labelled corpus."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from baomi.detect import TYPES, detect
from baomi.detect.tests.corpus import generate

TODAY = dt.date(2024, 6, 1)


def evaluate(seed: int, n_docs: int) -> dict[str, tuple[float, float, int]]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for doc in generate(seed, n_docs):
        expected = Counter(doc.expected)
        got = Counter((f.type, f.value) for f in detect(doc.text, today=TODAY))
        for key in expected | got:
            t = key[0]
            tp[t] += min(expected[key], got[key])
            fp[t] += max(0, got[key] - expected[key])
            fn[t] += max(0, expected[key] - got[key])
    out = {}
    for t in TYPES:
        precision = tp[t] / max(1, tp[t] + fp[t])
        recall = tp[t] / max(1, tp[t] + fn[t])
        out[t] = (precision, recall, tp[t] + fn[t])
    return out


def test_precision_and_recall_per_type() -> None:
    results = evaluate(seed=20240601, n_docs=600)
    for t, (p, r, n) in results.items():
        print(f"{t:<15} planted={n:<5} precision={p:.4f} recall={r:.4f}")
    for t, (p, r, n) in results.items():
        assert n >= 100, t
        assert p >= 0.99, (t, p)
        assert r >= 0.99, (t, r)


def test_corpus_is_deterministic() -> None:
    a = generate(5, 12)
    b = generate(5, 12)
    assert [d.text for d in a] == [d.text for d in b]
    assert [d.expected for d in a] == [d.expected for d in b]
