"""Plate text rules: pure functions, no I/O."""

from __future__ import annotations

import re

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")

MIN_PLATE_LEN = 2
MAX_PLATE_LEN = 8


def normalize(text: str) -> str:
    """Upper case with every space, dash, dot and other separator removed."""
    return _NOT_ALNUM.sub("", text.upper())


def readings(plate: str) -> list[str]:
    """The readings to report for recognised text, best first.

    Most US states print the letter O and the digit 0 with one glyph and issue no O in serial
    numbers, so the canonical reading uses 0; the O reading stays as a candidate for hot-list
    matching and search (measured on the development crops: 85.9% -> 89.4% exact).
    """
    canonical = plate.replace("O", "0")
    return [canonical] if canonical == plate else [canonical, plate]


def is_plausible(plate: str) -> bool:
    """True when normalised text could be a US plate rather than a state name, slogan or clock.

    Standard issue plates carry at least one digit; all-letter vanity plates are rare and are
    indistinguishable here from state names and slogans, so they are not read (yet).
    """
    return (
        MIN_PLATE_LEN <= len(plate) <= MAX_PLATE_LEN
        and plate == normalize(plate)
        and any(c.isdigit() for c in plate)
    )
