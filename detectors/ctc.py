"""Plate-alphabet decoding of a CTC recognizer's per-frame probabilities: pure numpy, no model.

PP-OCR recognizes 6,600 symbols (Chinese, punctuation, lower case). A plate holds only A-Z and 0-9,
so each frame's probability mass is folded onto those 36 classes plus "not a plate character"
(CTC blank, separators, everything else). Greedy decoding over the folded classes never emits a
dash, dot or look-alike symbol, and each character keeps its probability and its runner-up, which
gives the top-N readings with a confidence that is the product of the character probabilities
(on the development crops a reading at 0.9-0.97 was right 98% of the time, at 0.5-0.7 about half).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PLATE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MIN_ALTERNATIVE = 0.02  # a runner-up character below this probability is not worth a candidate


@dataclass(frozen=True)
class Char:
    """One decoded character: its probability, its runner-ups and the frames it spans."""

    char: str
    prob: float
    alternatives: tuple[tuple[str, float], ...]  # (character, probability), best first
    start: int
    end: int


@dataclass(frozen=True)
class Fold:
    """A recognizer's classes folded onto "other" (column 0) and the plate alphabet (upper and lower
    case of a letter count as the letter). Of PP-OCR's 6,625 classes only 62 are plate characters, so
    folding gathers those columns and gives "other" the rest of each frame's mass: the same sums as
    multiplying by the full 0/1 matrix at a fraction of the cost (it took 7 ms a line, more than the
    recognizer itself on AMX cores)."""

    classes: np.ndarray  # indices of the model's classes that are plate characters
    matrix: np.ndarray  # (len(classes) x 36) 0/1: which plate character each of them is

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        """(frames x symbols) probabilities to (frames x 37)."""
        chars = probs[:, self.classes] @ self.matrix
        return np.concatenate([(probs.sum(1) - chars.sum(1))[:, None], chars], 1)


def fold_classes(symbols: Sequence[str]) -> Fold:
    columns = [PLATE_ALPHABET.find(s.upper()) if len(s) == 1 and s.isascii() and s.isalnum() else -1 for s in symbols]
    classes = np.asarray([i for i, c in enumerate(columns) if c >= 0], np.int64)
    matrix = np.zeros((len(classes), len(PLATE_ALPHABET)), np.float32)
    matrix[np.arange(len(classes)), [columns[i] for i in classes]] = 1.0
    return Fold(classes, matrix)


def decode(probs: np.ndarray, fold: Fold) -> list[Char]:
    """Greedy CTC decoding of one (frames x symbols) probability matrix over the plate alphabet."""
    folded = fold(probs)  # frames x 37
    best = folded.argmax(1)
    chars: list[Char] = []
    prev, start, peak = 0, 0, 0
    for t in range(len(best) + 1):
        b = int(best[t]) if t < len(best) else 0
        if b != prev or t == len(best):
            if prev:
                chars.append(_char(folded, prev, start, t - 1, peak))
            start, peak = t, t
        elif b and folded[t, b] > folded[peak, b]:
            peak = t
        prev = b
    return chars


def _char(folded: np.ndarray, cls: int, start: int, end: int, peak: int) -> Char:
    row = folded[peak, 1:]
    order = np.argsort(-row)
    alts = tuple((PLATE_ALPHABET[j], float(row[j])) for j in order[1:3] if row[j] >= MIN_ALTERNATIVE)
    return Char(PLATE_ALPHABET[cls - 1], float(row[cls - 1]), alts, start, end)


def text(chars: Sequence[Char]) -> str:
    return "".join(c.char for c in chars)


def confidence(chars: Sequence[Char]) -> float:
    """The product of the character probabilities: the chance every character is right."""
    return float(np.prod([c.prob for c in chars])) if chars else 0.0


def candidates(chars: Sequence[Char], n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` most probable readings that differ from the best by runner-up characters, best first."""
    if not chars:
        return []
    options = [[(c.char, c.prob), *c.alternatives] for c in chars]
    best = confidence(chars)
    # Best-first search over "which option at each position", scores multiplied by the ratio to the best.
    start = (0,) * len(options)
    heap = [(-best, start)]
    seen, out = {start}, []
    while heap and len(out) < n:
        neg, choice = heapq.heappop(heap)
        out.append(("".join(options[i][k][0] for i, k in enumerate(choice)), -neg))
        for i, k in enumerate(choice):
            if k + 1 < len(options[i]):
                nxt = choice[:i] + (k + 1,) + choice[i + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (neg / options[i][k][1] * options[i][k + 1][1], nxt))
    return out

