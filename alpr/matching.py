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

_FOLD = str.maketrans({"O": "0", "D": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "G": "6"})
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


class _Group:
    """Patterns checked together: one combined regex rejects a plate in a single C-level scan;
    only plates that match something are checked pattern by pattern to say which ones."""

    def __init__(self, patterns: list[str]):
        self.each = [(p, re.compile(_regex(fold(p)))) for p in patterns]
        self.any = re.compile("|".join(f"(?:{_regex(fold(p))})" for p in patterns))

    def matches(self, folded: str) -> list[str]:
        if not self.any.fullmatch(folded):
            return []
        return [p for p, rx in self.each if rx.fullmatch(folded)]


class PatternSet:
    """A list's wildcard entries, matched on folded plates so partial reads survive misreads too.

    Patterns without ``*`` match only plates of their own length, so they are grouped by length
    and a plate is tried against one group of those plus the ``*`` patterns.
    """

    def __init__(self, patterns: Iterable[str]):
        self.patterns = sorted(set(patterns))
        by_length: dict[int, list[str]] = {}
        for p in self.patterns:
            if "*" not in p:
                by_length.setdefault(len(p), []).append(p)
        starred = [p for p in self.patterns if "*" in p]
        self._fixed = {n: _Group(ps) for n, ps in by_length.items()}
        self._starred = _Group(starred) if starred else None

    def __len__(self) -> int:
        return len(self.patterns)

    def matches(self, plate: str) -> list[str]:
        folded = fold(plate)
        fixed = self._fixed.get(len(folded))
        out = fixed.matches(folded) if fixed else []
        return out + self._starred.matches(folded) if self._starred else out


def kind_of(read_plate: str, entry_plate: str) -> str:
    """How a read relates to an entry found under the same folded key."""
    return EXACT if read_plate == entry_plate else CONFUSABLE
