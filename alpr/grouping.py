"""Plate grouping: the reads of one vehicle passing one camera become one stored read. Pure logic.

A read joins an open group on its camera when its plate is the same vehicle as one read in the group
(equal once confusable characters are folded, or one edit apart) and it was captured within ``gap``
of the group's last read. Groups close on event time: once the camera's newest capture time is more
than ``gap + lateness`` past a group's last read (frames may arrive up to ``lateness`` out of order);
the flow also closes them when the camera goes quiet (``flow.group_idle_s`` on the wall clock). A read too late for its closed
group starts a group of its own: it is stored, never dropped.

The stored plate is a per-character vote weighted by confidence, which fixes single-frame misreads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from alpr.domain import FrameMeta, PlateRead, stable_id
from alpr.matching import fold

MAX_CANDIDATES = 5


def within_one_edit(a: str, b: str) -> bool:
    """Edit distance <= 1 in one linear pass (this runs for every read against every open pass)."""
    if len(a) == len(b):
        if a == b:
            return True
        diff = 0
        for x, y in zip(a, b):
            if x != y:
                diff += 1
                if diff > 1:
                    return False
        return True
    if abs(len(a) - len(b)) != 1:
        return False
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long_)) if x != y), len(short))
    return short[i:] == long_[i + 1:]


def same_vehicle(a: str, b: str) -> bool:
    return within_one_edit(fold(a), fold(b))


def group_id_for(first_read_id: str) -> str:
    return stable_id("group", first_read_id)


def consensus(reads: list[PlateRead]) -> tuple[str, float, tuple[str, ...]]:
    """(plate, confidence, other readings best first) from a weighted vote over the group's reads.

    The length with the most confidence wins; then each position takes the character with the most
    confidence among reads of that length. The confidence is the best read's confidence times the
    mean share of the vote that each chosen character got.
    """
    by_length: dict[int, float] = defaultdict(float)
    for r in reads:
        by_length[len(r.plate)] += r.confidence
    length = max(by_length, key=lambda n: (by_length[n], n))
    votes = [defaultdict(float) for _ in range(length)]
    for r in reads:
        if len(r.plate) == length:
            for i, ch in enumerate(r.plate):
                votes[i][ch] += r.confidence
    chosen = [max(v, key=lambda c: (v[c], c)) for v in votes]
    plate = "".join(chosen)
    share = sum(v[c] / sum(v.values()) for v, c in zip(votes, chosen)) / length
    confidence = max(r.confidence for r in reads) * share
    weight: dict[str, float] = defaultdict(float)
    for r in reads:
        weight[r.plate] += r.confidence
        for c in r.candidates:
            weight[c] += r.confidence / 2
    others = sorted((p for p in weight if p != plate), key=lambda p: (-weight[p], p))
    return plate, round(confidence, 4), tuple(others[:MAX_CANDIDATES])


@dataclass
class Group:
    group_id: str
    reads: list[PlateRead] = field(default_factory=list)
    folded: set[str] = field(default_factory=set)  # the distinct plates read so far, folded
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def add(self, read: PlateRead) -> None:
        t = read.frame.captured_at
        self.reads.append(read)
        self.folded.add(fold(read.plate))
        self.first_seen = t if self.first_seen is None else min(self.first_seen, t)
        self.last_seen = t if self.last_seen is None else max(self.last_seen, t)

    def matches(self, folded: str) -> bool:
        return folded in self.folded or any(within_one_edit(folded, g) for g in self.folded)

    def stored(self) -> PlateRead:
        """The group as the one read to store: consensus plate, best crop, first seen, frames, duration."""
        plate, confidence, others = consensus(self.reads)
        best = max(self.reads, key=lambda r: (r.plate == plate, r.confidence))
        first, last = self.first_seen, self.last_seen
        frame = FrameMeta(best.frame.camera_id, best.frame.frame_id, first, best.frame.location)
        return replace(best, read_id=self.group_id, frame=frame, plate=plate, confidence=confidence,
                       candidates=others, frames=len(self.reads),
                       seen_ms=round((last - first).total_seconds() * 1000))


@dataclass
class CameraGroups:
    """Open groups of one camera (Bytewax keeps one per camera key and snapshots it for recovery)."""

    gap: timedelta
    lateness: timedelta
    groups: list[Group] = field(default_factory=list)
    newest: datetime | None = None  # the camera's newest capture time seen: its event-time clock

    def add(self, read: PlateRead) -> tuple[str, list[PlateRead]]:
        """Put the read in its group; returns the group id and the groups that closed."""
        t = read.frame.captured_at
        self.newest = t if self.newest is None else max(self.newest, t)
        f = fold(read.plate)
        group = next((g for g in self.groups if abs(t - g.last_seen) <= self.gap and g.matches(f)), None)
        if group is None:
            group = Group(group_id_for(read.read_id))
            self.groups.append(group)
        group.add(read)
        horizon = self.newest - self.gap - self.lateness
        if all(g.last_seen >= horizon for g in self.groups):
            return group.group_id, []
        closed = [g for g in self.groups if g.last_seen < horizon]
        self.groups = [g for g in self.groups if g.last_seen >= horizon]
        return group.group_id, [g.stored() for g in closed]

    def close_all(self) -> list[PlateRead]:
        """Everything still open (end of stream, or the camera went quiet)."""
        closed, self.groups = self.groups, []
        return [g.stored() for g in closed]
