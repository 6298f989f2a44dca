"""Scoring plate reads against ground truth: pure functions for the evaluation command."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from alpr.domain.types import Box


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union else 0.0


def center_inside(inner: Box, outer: Box) -> bool:
    cx, cy = inner.x + inner.w / 2, inner.y + inner.h / 2
    return outer.x <= cx <= outer.x + outer.w and outer.y <= cy <= outer.y + outer.h


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_accuracy(read: str, truth: str) -> float:
    """1 - character error rate, floored at 0 (an empty read scores 0)."""
    if not truth:
        return 1.0 if not read else 0.0
    return max(0.0, 1.0 - edit_distance(read, truth) / len(truth))


def confusions(pairs: Sequence[tuple[str, str]]) -> Counter:
    """(truth char, read char) substitutions, from reads of the right length only (so aligned)."""
    out: Counter = Counter()
    for read, truth in pairs:
        if len(read) == len(truth):
            out.update((t, r) for t, r in zip(truth, read) if t != r)
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[k]


def calibration(confidences: Sequence[float], correct: Sequence[bool], bins: int = 5) -> tuple[float, list[tuple[float, float, int]]]:
    """Expected calibration error of top-1 confidences, and per bin (mean confidence, accuracy, count).

    A reader whose 0.9 readings are right 90% of the time scores 0; dispatch can then trust the number.
    """
    table = []
    error = 0.0
    for k in range(bins):
        lo, hi = k / bins, (k + 1) / bins
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi or (k == bins - 1 and c == 1.0)]
        if idx:
            conf = sum(confidences[i] for i in idx) / len(idx)
            acc = sum(bool(correct[i]) for i in idx) / len(idx)
            table.append((round(conf, 3), round(acc, 3), len(idx)))
            error += len(idx) * abs(conf - acc)
    return (error / len(confidences) if confidences else 0.0), table
