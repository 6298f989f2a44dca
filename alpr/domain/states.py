"""The state that issued a plate: USPS codes, a read's state guess, the pass vote and how a read's
state compares with a hot-list entry's.

Plate characters are not unique across states (the same string is a Colorado car and a Montana
motorcycle), so a hit says whether the read's state agrees with the listed one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alpr.domain.edits import within_one_edit

# The 50 states and DC, the jurisdictions the state reader knows.
STATE_NAMES: dict[str, str] = {
    "AK": "Alaska", "AL": "Alabama", "AR": "Arkansas", "AZ": "Arizona", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DC": "District of Columbia", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "IA": "Iowa", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "KS": "Kansas", "KY": "Kentucky",
    "LA": "Louisiana", "MA": "Massachusetts", "MD": "Maryland", "ME": "Maine", "MI": "Michigan", "MN": "Minnesota",
    "MO": "Missouri", "MS": "Mississippi", "MT": "Montana", "NC": "North Carolina", "ND": "North Dakota",
    "NE": "Nebraska", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NV": "Nevada", "NY": "New York",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VA": "Virginia", "VT": "Vermont",
    "WA": "Washington", "WI": "Wisconsin", "WV": "West Virginia", "WY": "Wyoming",
}
STATES: tuple[str, ...] = tuple(sorted(STATE_NAMES))

# Slogans and other words printed on current standard plates, beside the state's name: a plate's
# top or bottom line that reads one of them names its state.
SLOGANS: dict[str, tuple[str, ...]] = {
    "AK": ("NORTH TO THE FUTURE", "THE LAST FRONTIER", "CELEBRATING STATEHOOD"),
    "AL": ("HEART OF DIXIE", "SWEET HOME ALABAMA"), "AR": ("THE NATURAL STATE",), "AZ": ("GRAND CANYON STATE",),
    "CO": ("COLORFUL COLORADO",), "CT": ("CONSTITUTION STATE",), "DE": ("THE FIRST STATE",),
    "DC": ("WASHINGTON DC", "TAXATION WITHOUT REPRESENTATION"), "FL": ("SUNSHINE STATE", "MYFLORIDA"),
    "GA": ("PEACH STATE",), "HI": ("ALOHA STATE",), "ID": ("FAMOUS POTATOES", "SCENIC IDAHO"),
    "IL": ("LAND OF LINCOLN",), "IN": ("CROSSROADS OF AMERICA",), "KY": ("BLUEGRASS STATE", "UNBRIDLED SPIRIT"),
    "LA": ("SPORTSMANS PARADISE", "BAYOU STATE"), "MA": ("THE SPIRIT OF AMERICA",), "ME": ("VACATIONLAND",),
    "MI": ("PURE MICHIGAN", "GREAT LAKES"), "MN": ("10000 LAKES",), "MO": ("SHOW ME STATE",),
    "MT": ("TREASURE STATE", "BIG SKY COUNTRY"), "NC": ("FIRST IN FLIGHT", "FIRST IN FREEDOM"),
    "ND": ("PEACE GARDEN STATE",), "NE": ("CORNHUSKER STATE",), "NH": ("LIVE FREE OR DIE",),
    "NJ": ("GARDEN STATE",), "NM": ("LAND OF ENCHANTMENT",), "NV": ("SILVER STATE", "BATTLE BORN"),
    "NY": ("EMPIRE STATE", "EXCELSIOR"), "OH": ("BIRTHPLACE OF AVIATION",), "OK": ("NATIVE AMERICA",),
    "OR": ("PACIFIC WONDERLAND",), "RI": ("OCEAN STATE",), "SC": ("WHILE I BREATHE I HOPE",),
    "SD": ("GREAT FACES GREAT PLACES", "MOUNT RUSHMORE"), "TN": ("VOLUNTEER STATE",), "TX": ("LONE STAR STATE",),
    "UT": ("LIFE ELEVATED", "GREATEST SNOW ON EARTH"), "VT": ("GREEN MOUNTAIN STATE",), "WA": ("EVERGREEN STATE",),
    "WI": ("AMERICAS DAIRYLAND",), "WV": ("WILD WONDERFUL", "ALMOST HEAVEN"),
}
FUZZY_MIN = 7  # names and slogans this long are still recognised with one character misread
TEXT_SURE = 0.97  # a state named in the plate's text: right on 99% of held-out specimens, every held-out real crop


def _squeeze(text: str) -> str:
    return re.sub("[^A-Z0-9]", "", text.upper())


# (words, state), longest first: "WEST VIRGINIA" before "VIRGINIA", "ARKANSAS" before "KANSAS".
_WORDS = sorted({(_squeeze(w), code) for code, name in STATE_NAMES.items() for w in (name, *SLOGANS.get(code, ()))},
                key=lambda wc: (-len(wc[0]), wc))


def _found(words: str, text: str) -> int:
    """0 for ``words`` in ``text``, 1 for them with one character misread, dropped or added, else 2."""
    if words in text:
        return 0
    # one edit in words of seven or more letters leaves their first three or last three intact
    if len(words) < FUZZY_MIN or (words[:3] not in text and words[-3:] not in text):
        return 2
    for size in (len(words) - 1, len(words), len(words) + 1):
        for i in range(len(text) - size + 1):
            if within_one_edit(words, text[i:i + size]):
                return 1
    return 2


def state_named(texts: Iterable[str]) -> str:
    """The state that a plate's printed lines (its name, its slogan) name; "" when none does, or
    when the best matches name two states. An exact match of longer words beats a near one."""
    best: dict[str, float] = {}
    for text in map(_squeeze, texts):
        for words, code in _WORDS:
            edits = _found(words, text)
            if edits < 2:
                best[code] = max(best.get(code, 0.0), len(words) - 1.5 * edits)
                text = text.replace(words, " " * len(words)) if not edits else text  # "KANSAS" inside "ARKANSAS"
    if not best:
        return ""
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    return ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else ""


def with_named(guess: StateGuess, named: str, sure: float = TEXT_SURE, keep: int = 3) -> StateGuess:
    """The classifier's guess corrected by a state named in the plate's text: that state first, at
    least ``sure`` probable, the classifier's other states after it in their order."""
    if not named:
        return guess
    others = [(s, p) for s, p in guess.ranked if s != named]
    p_named = max(sure, dict(guess.ranked).get(named, 0.0))
    rest = sum(p for _, p in others) or 1.0
    return StateGuess(((named, p_named), *((s, (1 - p_named) * p / rest) for s, p in others))[:keep])


SAME, DIFFERS, UNKNOWN = "same", "differs", "unknown"
STATE_COMPARISONS = (SAME, DIFFERS, UNKNOWN)


def state_code(text: str) -> str:
    """A USPS code from a code or a name in any case ("co", "Colorado" -> "CO"); "" when it is neither."""
    t = " ".join(text.strip().upper().replace(".", "").split())
    if t in STATE_NAMES:
        return t
    for code, name in STATE_NAMES.items():
        if name.upper() == t:
            return code
    return ""


@dataclass(frozen=True)
class StateGuess:
    """The issuing state read from a plate: best first, each with its probability."""

    ranked: tuple[tuple[str, float], ...] = ()  # (USPS code, probability), best first, a few at most

    @property
    def state(self) -> str:
        return self.ranked[0][0] if self.ranked else ""

    @property
    def confidence(self) -> float:
        return self.ranked[0][1] if self.ranked else 0.0

    @property
    def runners_up(self) -> tuple[str, ...]:
        return tuple(s for s, _ in self.ranked[1:])


UNREAD = StateGuess()


def guess_from_probs(probs: Sequence[float], states: Sequence[str] = STATES, keep: int = 3) -> StateGuess:
    """The ``keep`` most probable states of a classifier's output."""
    order = sorted(range(len(probs)), key=lambda i: probs[i], reverse=True)[:keep]
    return StateGuess(tuple((states[i], float(probs[i])) for i in order))


def vote(guesses: Iterable[StateGuess], keep: int = 3) -> StateGuess:
    """A pass's state from its frames: each frame's probabilities are summed, so a state seen surely
    in one frame outweighs a weak guess in two; the result is the share of the summed probability."""
    total: dict[str, float] = defaultdict(float)
    frames = 0
    for g in guesses:
        if not g.ranked:
            continue
        frames += 1
        for state, p in g.ranked:
            total[state] += p
    if not frames:
        return UNREAD
    ranked = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:keep]
    return StateGuess(tuple((s, round(p / frames, 4)) for s, p in ranked))


def compare(read_state: str, listed_state: str) -> str:
    """How a read's state compares with the hot-list entry's: ``unknown`` when either is missing."""
    if not read_state or not listed_state:
        return UNKNOWN
    return SAME if read_state == listed_state else DIFFERS


def suppressed(comparison: str, confidence: float, mode: str, min_confidence: float) -> bool:
    """Whether policy drops a hit whose states differ: only in ``suppress`` mode and only when the
    read's state is at least ``min_confidence`` sure; ``flag`` raises every hit and marks it."""
    return mode == "suppress" and comparison == DIFFERS and confidence >= min_confidence
