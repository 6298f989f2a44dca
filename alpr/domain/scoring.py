"""Scoring plate reads against ground truth, in one place: `alpr eval` (``Tally``), recognizer
training (``corpus_scores``) and the demo (``pass_scores``). Pure functions."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from alpr.domain.matching import fold
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


# Why a plate was not read exactly, in the order they are tested (``error_class``).
EXACT_READ, NOT_FOUND, NOTHING_READ = "exact", "not_found", "nothing_read"
ERROR_CLASSES = (EXACT_READ, NOT_FOUND, NOTHING_READ, "edge_dropped", "edge_extra", "inner_dropped", "inner_extra",
                 "lookalike", "substitution", "wrong_line", "other")


def error_class(read: str, truth: str, detected: bool | None = None) -> str:
    """What kind of misread this is, so a change is judged by the class it moved:

    - ``not_found``: the plate was not detected (scenes only); ``nothing_read``: found, no reading;
    - ``edge_dropped`` / ``edge_extra``: a character missing, or one too many (a bolt, a frame, a
      sticker), at the left or right edge;
    - ``inner_dropped`` / ``inner_extra``: the same inside the serial;
    - ``lookalike``: the right length, every wrong character a look-alike the hot lists forgive
      (O/0, I/1, B/8, S/5, Z/2, G/6); ``substitution``: the right length, some other character wrong;
    - ``wrong_line``: most characters wrong, as when another text line (a date stamp, a dealer's
      phone number) was taken for the plate; ``other``: the rest.
    """
    if read == truth:
        return EXACT_READ
    if detected is False:
        return NOT_FOUND
    if not read:
        return NOTHING_READ
    distance = edit_distance(read, truth)
    if distance > len(truth) / 2:
        return "wrong_line"
    if len(read) == len(truth) - 1 and distance == 1:
        return "edge_dropped" if read in (truth[1:], truth[:-1]) else "inner_dropped"
    if len(read) == len(truth) + 1 and distance == 1:
        return "edge_extra" if truth in (read[1:], read[:-1]) else "inner_extra"
    if len(read) == len(truth):
        return "lookalike" if fold(read) == fold(truth) else "substitution"
    return "other"


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


@dataclass
class Tally:
    plates: int = 0
    detected: int = 0
    top1: int = 0
    topn: int = 0
    match1: int = 0
    matchn: int = 0
    char_acc: float = 0.0
    ms: list[float] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (best read, truth)
    confidences: list[float] = field(default_factory=list)  # of each best read (0 when nothing was read)
    classes: list[tuple[str, str]] = field(default_factory=list)  # (truth state or "", error class) per plate
    states: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (truth state, states read best first)

    def add(self, truth: str, best: str, candidates: list[str], detected: bool | None, confidence: float,
            state: str = "") -> None:
        """One plate: its truth, the best reading and its candidates; ``state`` its true state if known."""
        self.classes.append((state, error_class(best, truth, detected)))
        self.plates += 1
        self.confidences.append(confidence)
        self.detected += bool(detected)
        self.top1 += best == truth
        self.topn += truth in candidates
        self.match1 += fold(best) == fold(truth)
        self.matchn += fold(truth) in map(fold, candidates)
        self.char_acc += char_accuracy(best, truth)
        self.pairs.append((best, truth))

    def add_state(self, truth: str, ranked: Sequence[str]) -> None:
        """One plate's true state and the states read for it, best first."""
        self.states.append((truth, tuple(ranked)))

    def class_counts(self) -> dict[str, int]:
        counts = Counter(c for _, c in self.classes)
        return {c: counts[c] for c in ERROR_CLASSES}

    def classes_by_state(self) -> dict[str, dict[str, int]]:
        """Misread classes per true state (states known only)."""
        out: dict[str, Counter] = {}
        for state, c in self.classes:
            if state:
                out.setdefault(state, Counter())[c] += 1
        return {s: dict(out[s]) for s in sorted(out)}

    def state_rates(self) -> dict[str, float | int]:
        """Top-1 and top-3 state reading over the plates whose state is known."""
        if not self.states:
            return {}
        n = len(self.states)
        return {"state_plates": n,
                "state_top1": round(sum(bool(r) and r[0] == t for t, r in self.states) / n, 4),
                "state_top3": round(sum(t in r[:3] for t, r in self.states) / n, 4)}

    def state_by_state(self) -> dict[str, tuple[int, int]]:
        """Per true state: (plates, read right first)."""
        out: dict[str, list[int]] = {}
        for t, r in self.states:
            row = out.setdefault(t, [0, 0])
            row[0] += 1
            row[1] += bool(r) and r[0] == t
        return {s: (n, k) for s, (n, k) in sorted(out.items())}

    def rates(self) -> dict[str, float]:
        """The shares of plates found, read and matched, and the timing percentiles."""
        n = max(1, self.plates)
        return {
            "detection_recall": round(self.detected / n, 4),
            "read_top1": round(self.top1 / n, 4),
            "read_topn": round(self.topn / n, 4),
            "match_top1": round(self.match1 / n, 4),
            "match_topn": round(self.matchn / n, 4),
            "char_accuracy": round(self.char_acc / n, 4),
            "calibration_error": round(self.calibration()[0], 4),
            "ms_per_image_median": round(percentile(self.ms, 0.5), 1),
            "ms_per_image_p95": round(percentile(self.ms, 0.95), 1),
        }

    def calibration(self) -> tuple[float, list[tuple[float, float, int]]]:
        """How well the best read's confidence predicts that it is right (``calibration``)."""
        return calibration(self.confidences, [r == t for r, t in self.pairs])


def corpus_scores(preds: Sequence[str], truths: Sequence[str], same=lambda s: s) -> dict[str, float]:
    """Exact match and character accuracy (1 - edits / truth characters) over a corpus, after
    ``same`` maps spellings that count as one (recognizer training folds O to 0)."""
    p, t = [same(s) for s in preds], [same(s) for s in truths]
    n = len(t)
    return {"n": n, "exact": sum(a == b for a, b in zip(p, t)) / n if n else 0.0,
            "char_acc": 1 - sum(edit_distance(a, b) for a, b in zip(p, t)) / max(1, sum(len(b) for b in t))}


def pass_scores(truth: dict[str, tuple[str, tuple[str, ...]]], passes: list[tuple[str, str]]) -> dict[str, float | int]:
    """Stored vehicle passes against a simulator's truth (frame_id -> (camera, true plates)).

    A pass is (frame_id of its best frame, plate). Accuracy: of the (camera, plate) passes shown,
    the share stored with exactly that plate; precision: the share of stored passes whose plate is
    in their best frame.
    """
    shown = {(cam, p) for cam, ps in truth.values() for p in ps}
    stored = {(truth[f][0], p) for f, p in passes if f in truth}
    wrong = [(p, truth[f][1]) for f, p in passes if f in truth and p not in truth[f][1]]
    return {
        "plates_shown": len(shown),
        "read_accuracy": round(len(shown & stored) / len(shown), 4) if shown else 0.0,
        "read_precision": round(1 - len(wrong) / len(passes), 4) if passes else 0.0,
        "misread_passes": [{"stored": p, "shown": list(ps)} for p, ps in wrong],
    }
