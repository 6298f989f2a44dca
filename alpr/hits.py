"""When a match becomes a hit: the first matching read, then quiet for the same vehicle pass.

Pure logic, keyed by (camera, plate, list, entry) in the flow; event time decides, so replays and
late frames give the same answer as the live run.
"""

from __future__ import annotations

from datetime import datetime

from alpr.domain import Hit, HotlistEntry, PlateRead, hit_id_for


def hit_key(read: PlateRead, entry: HotlistEntry) -> str:
    return "\x1f".join((read.frame.camera_id, read.plate, entry.list_name, entry.entry_id))


def suppress_repeats(
    last_hit_at: datetime | None, match: tuple[PlateRead, HotlistEntry], window_s: float
) -> tuple[datetime | None, list[Hit]]:
    """State is the capture time of the last hit for this key; emit a hit only outside the window."""
    read, entry = match
    t = read.frame.captured_at
    if last_hit_at is not None and abs((t - last_hit_at).total_seconds()) <= window_s:
        return last_hit_at, []
    hit_id = hit_id_for(read.frame.camera_id, read.plate, entry.list_name, entry.entry_id, read.read_id)
    return t, [Hit(hit_id, read, entry, "exact")]
