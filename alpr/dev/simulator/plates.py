"""US-style plate numbers and their look, in the layouts of common states.

A layout pattern uses ``L`` for a letter, ``#`` for a digit and keeps separators (space, dash)
as printed; the plate number itself is the pattern's characters without separators.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from alpr.domain.plates import normalize

# Most states leave out I, O and Q in serial letters because they read as 1, 0 and 0.
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"


@dataclass(frozen=True)
class StateStyle:
    code: str
    name: str
    slogan: str
    layouts: tuple[str, ...]
    background: tuple[int, int, int]  # BGR
    text: tuple[int, int, int]
    header: tuple[int, int, int]


STATES: tuple[StateStyle, ...] = (
    StateStyle("CA", "California", "dmv.ca.gov", ("#LLL###",), (245, 245, 245), (90, 40, 20), (40, 40, 200)),
    StateStyle("NY", "NEW YORK", "EMPIRE STATE", ("LLL-####",), (60, 200, 245), (90, 40, 10), (90, 40, 10)),
    StateStyle("TX", "TEXAS", "THE LONE STAR STATE", ("LLL-####",), (240, 240, 240), (20, 20, 20), (20, 20, 20)),
    StateStyle("FL", "FLORIDA", "Sunshine State", ("LLL L##", "LLLL##"), (240, 245, 240), (40, 110, 30), (30, 120, 240)),
    StateStyle("NJ", "NEW JERSEY", "Garden State", ("L##-LLL",), (120, 220, 240), (20, 20, 20), (20, 20, 20)),
    StateStyle("PA", "PENNSYLVANIA", "visitPA.com", ("LLL-####",), (240, 240, 240), (100, 50, 20), (100, 50, 20)),
    StateStyle("IL", "Illinois", "Land of Lincoln", ("LL #####",), (235, 235, 235), (20, 20, 160), (20, 20, 160)),
    StateStyle("OH", "OHIO", "BIRTHPLACE OF AVIATION", ("LLL ####",), (230, 235, 240), (30, 30, 30), (120, 60, 20)),
    StateStyle("MA", "Massachusetts", "The Spirit of America", ("#LL###", "#LLL##"), (245, 245, 245), (30, 30, 190), (30, 30, 190)),
    StateStyle("WA", "Washington", "Evergreen State", ("LLL####",), (240, 240, 240), (110, 50, 20), (110, 50, 20)),
    StateStyle("MI", "MICHIGAN", "PURE MICHIGAN", ("LLL ####",), (250, 250, 250), (20, 20, 20), (110, 60, 10)),
    StateStyle("MD", "Maryland", "", ("#LL####",), (240, 240, 240), (20, 20, 20), (20, 20, 160)),
    StateStyle("MN", "MINNESOTA", "10,000 lakes", ("LLL###", "###-LLL"), (240, 235, 225), (120, 60, 20), (120, 60, 20)),
    StateStyle("DE", "DELAWARE", "THE FIRST STATE", ("######", "#####"), (130, 60, 20), (80, 200, 240), (80, 200, 240)),
    StateStyle("VA", "Virginia", "", ("LLL-####", "LL#-####"), (245, 245, 245), (110, 50, 20), (110, 50, 20)),
    StateStyle("HI", "HAWAII", "Aloha State", ("LLL ###",), (245, 245, 245), (20, 20, 20), (30, 30, 200)),
    StateStyle("AZ", "ARIZONA", "Grand Canyon State", ("LLL####", "LL#####L"), (200, 220, 235), (110, 50, 20), (40, 60, 160)),
)


@dataclass(frozen=True)
class PlateSpec:
    state: StateStyle
    printed: str  # as shown on the plate, with separators

    @property
    def plate(self) -> str:
        return normalize(self.printed)


def fill(layout: str, rng: random.Random) -> str:
    return "".join(
        rng.choice(LETTERS) if c == "L" else rng.choice(DIGITS) if c == "#" else c for c in layout
    )


def random_plate(rng: random.Random) -> PlateSpec:
    state = rng.choice(STATES)
    return PlateSpec(state, fill(rng.choice(state.layouts), rng))


def plate_pool(seed: int, size: int) -> list[PlateSpec]:
    """A fixed population of vehicles: the same seed gives the same plates, so a demo can list some."""
    rng = random.Random(f"pool-{seed}")
    seen: dict[str, PlateSpec] = {}
    while len(seen) < size:
        spec = random_plate(rng)
        seen.setdefault(spec.plate, spec)
    return list(seen.values())
