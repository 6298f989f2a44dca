"""Plate text rules: pure functions, no I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")

MIN_PLATE_LEN = 2
MAX_PLATE_LEN = 8
LAYOUT_SLOTS = {"L": str.isalpha, "#": str.isdigit}  # a layout: "L" a letter, "#" a digit ("LLL####")
# Look-alikes swapped to fit a layout's slot: a digit where a letter belongs, and back.
LETTER_FOR_DIGIT = {"0": "O", "1": "I", "8": "B", "5": "S", "2": "Z", "6": "G"}
DIGIT_FOR_LETTER = {**{v: k for k, v in LETTER_FOR_DIGIT.items()}, "D": "0", "Q": "0"}


def normalize(text: str) -> str:
    """Upper case with every space, dash, dot and other separator removed."""
    return _NOT_ALNUM.sub("", text.upper())


def parse_layouts(text: str) -> tuple[str, ...]:
    """``"LLL####, LLL#L##"`` as a tuple of layouts; ValueError naming a bad one."""
    layouts = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    for layout in layouts:
        if not MIN_PLATE_LEN <= len(layout) <= MAX_PLATE_LEN or set(layout) - set(LAYOUT_SLOTS):
            raise ValueError(f"{layout!r} is not a layout: {MIN_PLATE_LEN}-{MAX_PLATE_LEN} of L (a letter) and # (a digit)")
    return layouts


def fit_layout(plate: str, layouts: Sequence[str]) -> str | None:
    """The plate in the layout of its length that it fits with the fewest look-alike characters
    swapped (0 in a letter slot is O, B in a digit slot is 8, ...; the first such layout on a tie);
    None when it fits none."""
    best: tuple[int, str] | None = None
    for layout in layouts:
        if len(layout) != len(plate):
            continue
        fitted, swaps = [], 0
        for char, slot in zip(plate, layout):
            if not LAYOUT_SLOTS[slot](char):
                char, swaps = (LETTER_FOR_DIGIT if slot == "L" else DIGIT_FOR_LETTER).get(char, ""), swaps + 1
            if not char:
                break
            fitted.append(char)
        else:
            if best is None or swaps < best[0]:
                best = (swaps, "".join(fitted))
    return best[1] if best else None


def readings(plate: str, o_is_zero: bool = True, layouts: Sequence[str] = ()) -> list[str]:
    """The readings to report for recognized text, best first; the text as read stays a candidate
    for hot-list matching and search.

    With the region's plate layouts, a reading that fits one is reported fitted. Otherwise, where
    the plates print the letter O and the digit 0 with one glyph and issue no O in serial numbers
    (most US states, ``o_is_zero``), the reading uses 0 (measured on the development crops: 85.9% ->
    89.4% exact); elsewhere it is reported as read.
    """
    canonical = fit_layout(plate, layouts) if layouts else None
    if canonical is None:
        canonical = plate.replace("O", "0") if o_is_zero else plate
    return [canonical] if canonical == plate else [canonical, plate]


def is_plausible(plate: str, letters_only: bool = False) -> bool:
    """True when normalised text could be a US plate rather than a state name, slogan or clock.

    Standard issue plates carry at least one digit. All-letter vanity plates (``NTGUILTY``) cannot
    be told from state names and slogans by their text, so they count only with ``letters_only``:
    where something else says the text is a plate's (a plate detector sure of its box).
    """
    return (
        MIN_PLATE_LEN <= len(plate) <= MAX_PLATE_LEN
        and plate == normalize(plate)
        and (letters_only or any(c.isdigit() for c in plate))
    )


@dataclass(frozen=True)
class PlateFormat:
    """A region's plate-text rules (``reader.o_is_zero``, ``reader.plate_layouts``)."""

    o_is_zero: bool = True
    layouts: tuple[str, ...] = ()

    def readings(self, plate: str) -> list[str]:
        return readings(plate, self.o_is_zero, self.layouts)

    def fits(self, plate: str) -> bool:
        """Whether text fits one of the region's layouts (look-alikes swapped); any text where none are set."""
        return not self.layouts or fit_layout(plate, self.layouts) is not None
