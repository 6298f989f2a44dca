"""Plate matching rules for hot lists: pure functions, no I/O.

A read matches an entry *exactly* (same normalised plate), by *confusable* characters (equal once
the characters OCR mixes up are folded: O/D/0, I/1, B/8, S/5, Z/2, G/6), or *partially* (a BOLO
pattern with ``?`` for one character and ``*`` for any run). Entries are stored under their folded
plate, so exact and confusable matches are one hash lookup each, whatever the list size.
"""

from __future__ import annotations

import re
from typing import Iterable

EXACT, CONFUSABLE, PARTIAL = "exact", "confusable", "partial"
RANK = {EXACT: 0, CONFUSABLE: 1, PARTIAL: 2}  # lower is stronger

# One place for the folding: ClickHouse's translate() uses the same two strings (see db.migrate).
FOLD_FROM, FOLD_TO = "ODIBSZG", "0018526"
_FOLD = str.maketrans(FOLD_FROM, FOLD_TO)
_NOT_PATTERN = re.compile(r"[^A-Z0-9?*]")


def fold(plate: str) -> str:
    """The plate with every confusable character replaced by its digit twin."""
    return plate.translate(_FOLD)


def normalize_pattern(text: str) -> str:
    """Like plate normalisation, but keeps the wildcards ``?`` and ``*``."""
    return _NOT_PATTERN.sub("", text.upper())


def is_pattern(text: str) -> bool:
    return "?" in text or "*" in text


def validate_pattern(pattern: str) -> None:
    """Reject patterns so loose they would hit on most plates."""
    fixed = sum(c.isalnum() for c in pattern)
    if fixed < 2:
        raise ValueError(f"pattern {pattern!r} needs at least two fixed characters")


def _regex(pattern: str) -> str:
    return "".join("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)


class PatternSet:
    """A list's wildcard entries, matched on folded plates so partial reads survive misreads too.

    Each pattern is indexed by its longest run of fixed characters, which any matching plate must
    contain; a plate (at most ten characters) looks up its few dozen substrings and runs only the
    regexes of the patterns found. Patterns without a run of two fixed characters are few and
    share one combined regex.
    """

    def __init__(self, patterns: Iterable[str]):
        self.patterns = sorted(set(patterns))
        self._by_run: dict[str, list[tuple[str, re.Pattern]]] = {}
        rest = []
        for p in self.patterns:
            folded = fold(p)
            run = max(re.split(r"[?*]", folded), key=len)
            if len(run) >= 2:
                self._by_run.setdefault(run, []).append((p, re.compile(_regex(folded))))
            else:
                rest.append((p, re.compile(_regex(folded))))
        self._run_lengths = sorted({len(r) for r in self._by_run})
        self._rest = rest
        self._rest_any = re.compile("|".join(f"(?:{rx.pattern})" for _, rx in rest)) if rest else None

    def __len__(self) -> int:
        return len(self.patterns)

    def matches(self, plate: str) -> list[str]:
        folded = fold(plate)
        found = set()
        for n in self._run_lengths:
            for i in range(len(folded) - n + 1):
                for p, rx in self._by_run.get(folded[i : i + n], ()):
                    if rx.fullmatch(folded):
                        found.add(p)
        if self._rest_any is not None and self._rest_any.fullmatch(folded):
            found.update(p for p, rx in self._rest if rx.fullmatch(folded))
        return sorted(found)


SAME, LOOKALIKE, WILD, DIFFERS = "same", "lookalike", "wild", "differs"


def char_marks(read: str, listed: str) -> list[tuple[str, str]]:
    """Each character of the read beside the listed plate or pattern, for dispatch to rule out a
    misread at a glance: ``same``, ``lookalike`` (equal only once folded: 0 for O), ``wild`` (under a
    BOLO wildcard) or ``differs``."""
    parts = [(".", WILD) if c == "?" else (".*", WILD) if c == "*" else (re.escape(fold(c)), c) for c in listed]
    found = re.fullmatch("".join(f"({rx})" for rx, _ in parts), fold(read))
    if found is None:  # matched through an OCR candidate: compare place by place
        return [(c, DIFFERS if i >= len(listed) or fold(c) != fold(listed[i]) else SAME if c == listed[i] else LOOKALIKE)
                for i, c in enumerate(read)]
    out = []
    for i, (_, want) in enumerate(parts, start=1):
        for c in read[found.start(i):found.end(i)]:
            out.append((c, WILD if want == WILD else SAME if c == want else LOOKALIKE))
    return out
