"""When a match becomes a hit: the first matching read, then quiet for the same vehicle pass.

Pure logic, keyed by (camera, list, entry) in the flow, so a misread and a good read of the same
car make one hit; event time decides, so replays and late frames give the same answer as live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from alpr.domain.matching import RANK
from alpr.domain.states import compare, suppressed
from alpr.domain.types import Hit, Match, PlateRead, hit_id_for


def best_matches(read: PlateRead, found: dict[str, Sequence[Match]]) -> list[Match]:
    """One match per entry for a read: the strongest kind, then the read's own plate before its
    OCR candidates."""
    best: dict[tuple[str, str], tuple[tuple[int, int], Match]] = {}
    for rank, plate in enumerate((read.plate, *read.candidates)):
        for m in found.get(plate, ()):
            key, score = (m.entry.list_name, m.entry.entry_id), (RANK[m.kind], rank)
            if key not in best or score < best[key][0]:
                best[key] = (score, m)
    return [m for _, m in sorted(best.values(), key=lambda x: x[0])]


def hit_key(read: PlateRead, match: Match) -> str:
    return "\x1f".join((read.frame.camera_id, match.entry.list_name, match.entry.entry_id))


def suppress_repeats(
    last_hit_at: datetime | None, item: tuple[PlateRead, Match], window_s: float
) -> tuple[datetime | None, list[Hit]]:
    """State is the capture time of the last hit for this key; emit a hit only outside the window."""
    read, match = item
    t = read.frame.captured_at
    if last_hit_at is not None and abs((t - last_hit_at).total_seconds()) <= window_s:
        return last_hit_at, []
    hit_id = hit_id_for(read.frame.camera_id, match.entry.list_name, match.entry.entry_id, read.read_id)
    return t, [Hit(hit_id, read, match.entry, match.kind, match.plate, compare(read.state.state, match.entry.state))]


def apply_state_policy(hit: Hit, mode: str, min_confidence: float) -> Hit:
    """The hit marked suppressed where ``hits.state_mismatch`` drops a surely differing state."""
    if suppressed(hit.state_match, hit.read.state.confidence, mode, min_confidence):
        return replace(hit, suppressed=True)
    return hit
