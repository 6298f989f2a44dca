"""Domain types shared by every stage, and the deterministic ids that make replays harmless."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from alpr.domain.states import UNKNOWN, UNREAD, StateGuess


def stable_id(*parts: object) -> str:
    """A 32-hex-digit id derived only from its parts, so a replayed input yields the same id."""
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class FrameMeta:
    """Everything known about a frame except its pixels."""

    camera_id: str
    frame_id: str
    captured_at: datetime  # tz-aware UTC
    location: Location
    # Only simulated frames carry the plates that are really in them (for accuracy checks).
    true_plates: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class PlateRead:
    """One plate read in one frame. Holds no personal information: plate, time, place, image."""

    read_id: str
    frame: FrameMeta
    plate: str
    confidence: float
    box: Box
    crop_jpeg: bytes
    detector: str
    candidates: tuple[str, ...] = ()  # the OCR's next-best readings, best first; checked against hot lists too
    scene_jpeg: bytes = b""  # the whole frame, downscaled: where the car was, for investigators and evidence
    frames: int = 1  # a grouped read: how many frames showed this vehicle pass
    seen_ms: int = 0  # and from its first to its last frame
    state: StateGuess = UNREAD  # the issuing state read from the plate (a pass: voted over its frames)


@dataclass(frozen=True)
class HotlistEntry:
    """A hot-list entry as the flow sees it: only the plate is clear text."""

    list_name: str
    entry_id: str
    plate: str
    sealed: dict = field(default_factory=dict)  # encrypted payload as stored: key id, nonce, ciphertext
    state: str = ""  # the issuing state (USPS code) where the source gives one: part of the plate's identity


@dataclass(frozen=True)
class Match:
    """A read (or one of its OCR candidates) matched a hot-list entry, and how."""

    plate: str  # the read or candidate plate that matched
    entry: HotlistEntry
    kind: str  # exact | confusable | partial


@dataclass(frozen=True)
class Hit:
    """A lead for dispatch: a read matched a hot-list entry. Confirmation happens elsewhere."""

    hit_id: str
    read: PlateRead
    entry: HotlistEntry
    match: str  # exact | confusable | partial: how much dispatch should trust it
    matched_plate: str  # the read plate or OCR candidate that matched the entry
    state_match: str = UNKNOWN  # same | differs | unknown: the read's state against the listed one
    suppressed: bool = False  # hits.state_mismatch = suppress kept it from dispatch (recorded all the same)


def read_id_for(frame_id: str, index: int) -> str:
    return stable_id("read", frame_id, index)


def hit_id_for(camera_id: str, list_name: str, entry_id: str, first_read_id: str) -> str:
    return stable_id("hit", camera_id, list_name, entry_id, first_read_id)


@dataclass(frozen=True)
class NewEntry:
    """An entry to load: plate (or BOLO pattern), fields to seal, optional end time."""

    plate: str
    fields: Mapping[str, object]
    expires_at: datetime | None = None
    state: str = ""  # the issuing state (USPS code), kept in clear beside the plate; "" when the source gives none


@dataclass(frozen=True)
class FoundRead:
    """A stored read as search returns it."""

    read_id: str
    captured_at: datetime
    camera_id: str
    plate: str
    confidence: float
    latitude: float
    longitude: float
    frames: int
    candidates: tuple[str, ...] = field(default=())
    hold: bool = False
    state: str = ""  # the issuing state read (USPS code), "" when not read
    state_confidence: float = 0.0
    state_candidates: tuple[str, ...] = ()  # the next most probable states, best first
