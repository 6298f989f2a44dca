"""Plate grouping: the reads of one vehicle passing one camera become one stored read. Pure logic.

A read joins an open group on its camera when its plate is the same vehicle as one read in the group
(equal once confusable characters are folded, or one edit apart) and it was captured within ``gap``
of the group's last read. Groups close on event time: once the camera's newest capture time is more
than ``gap + lateness`` past a group's last read (frames may arrive up to ``lateness`` out of order);
the flow also closes them when the camera goes quiet (``flow.group_idle_s`` on the wall clock). A read too late for its closed
group starts a group of its own: it is stored, never dropped. A pass whose reads are all below
``flow.pass_min_confidence`` is counted and not stored (see ``CameraGroups``).

The stored plate is a per-character vote weighted by confidence, which fixes single-frame misreads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from alpr.domain.edits import within_one_edit
from alpr.domain.matching import fold
from alpr.domain.states import vote
from alpr.domain.types import FrameMeta, PlateRead, stable_id

MAX_CANDIDATES = 5


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
    weight: dict[str, float] = defaultdict(float)
    for r in reads:
        weight[r.plate] += r.confidence
    if len(weight) == 1:  # the usual pass: every frame read alike, so the vote is unanimous
        plate, confidence = reads[0].plate, max(r.confidence for r in reads)
    else:
        plate, confidence = _vote(reads)
    for r in reads:
        for c in r.candidates:
            weight[c] += r.confidence / 2
    others = sorted((p for p in weight if p != plate), key=lambda p: (-weight[p], p))
    return plate, round(confidence, 4), tuple(others[:MAX_CANDIDATES])


def _vote(reads: list[PlateRead]) -> tuple[str, float]:
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
    share = sum(v[c] / sum(v.values()) for v, c in zip(votes, chosen)) / length
    return "".join(chosen), max(r.confidence for r in reads) * share


@dataclass
class Group:
    group_id: str
    reads: list[PlateRead] = field(default_factory=list)
    folded: set[str] = field(default_factory=set)  # the distinct plates read so far, folded
    first: float = float("inf")  # capture times as epoch seconds: cheap to compare for every read
    last: float = float("-inf")
    best: float = 0.0  # the most confident read

    def add(self, read: PlateRead, folded: str, t: float) -> None:
        self.reads.append(read)
        self.folded.add(folded)
        self.first, self.last = min(self.first, t), max(self.last, t)
        self.best = max(self.best, read.confidence)

    def near(self, folded: str) -> bool:
        return any(within_one_edit(folded, g) for g in self.folded)

    def stored(self) -> PlateRead:
        """The group as the one read to store: consensus plate and state, best crop, first seen, frames, duration."""
        plate, confidence, others = consensus(self.reads)
        best = max(self.reads, key=lambda r: (r.plate == plate, r.confidence))
        first = min(r.frame.captured_at for r in self.reads)
        frame = FrameMeta(best.frame.camera_id, best.frame.frame_id, first, best.frame.location)
        return PlateRead(self.group_id, frame, plate, confidence, best.box, best.crop_jpeg, best.detector, others,
                         best.scene_jpeg, len(self.reads), round((self.last - self.first) * 1000),
                         vote(r.state for r in self.reads))


@dataclass
class CameraGroups:
    """Open groups of one camera (Bytewax keeps one per camera key and snapshots it for recovery).

    A pass is stored only if one of its reads reaches ``min_confidence``: a lone weak read (a plate
    half in view, a blurred frame) is usually a misread, while a weak read of a vehicle also read well
    adds its vote to that pass.
    """

    gap: timedelta
    lateness: timedelta
    min_confidence: float = 0.0
    groups: list[Group] = field(default_factory=list)
    camera_id: str = ""
    newest: float = float("-inf")  # the camera's newest capture time seen: its event-time clock

    def is_lead(self, read: PlateRead) -> bool:
        """Whether the read is confident enough to raise a hit by itself."""
        return read.confidence >= self.min_confidence

    def add(self, read: PlateRead) -> tuple[str, list[PlateRead], int]:
        """Put the read in its group; returns the group id, the passes that closed and how many
        closed passes were dropped for want of a confident read."""
        t = read.frame.captured_at.timestamp()
        self.camera_id = read.frame.camera_id
        self.newest = max(self.newest, t)
        f = fold(read.plate)
        gap = self.gap.total_seconds()
        near = [g for g in self.groups if abs(t - g.last) <= gap]
        # most reads repeat their pass's plate exactly: look for that before any edit distance
        group = next((g for g in near if f in g.folded), None) or next((g for g in near if g.near(f)), None)
        if group is None:
            group = Group(group_id_for(read.read_id))
            self.groups.append(group)
        group.add(read, f, t)
        horizon = self.newest - gap - self.lateness.total_seconds()
        if all(g.last >= horizon for g in self.groups):
            return group.group_id, [], 0
        closed = [g for g in self.groups if g.last < horizon]
        self.groups = [g for g in self.groups if g.last >= horizon]
        return (group.group_id, *self._store(closed))

    def close_all(self) -> tuple[list[PlateRead], int]:
        """Everything still open (end of stream, or the camera went quiet)."""
        closed, self.groups = self.groups, []
        return self._store(closed)

    def _store(self, closed: list[Group]) -> tuple[list[PlateRead], int]:
        kept = [g.stored() for g in closed if g.best >= self.min_confidence]
        return kept, len(closed) - len(kept)
