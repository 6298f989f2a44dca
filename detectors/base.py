"""The reader interface every plate detector/OCR pair implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from alpr.domain.states import UNREAD, StateGuess
from alpr.domain.types import Box


@dataclass(frozen=True)
class PlateText:
    """A plate found and read in one image."""

    box: Box  # axis-aligned, image pixels
    corners: tuple[tuple[float, float], ...]  # 4 points clockwise from top-left, image pixels
    raw_text: str  # what the recognizer returned
    plate: str  # normalised plate number
    confidence: float  # recognition confidence, 0..1
    det_confidence: float  # detection confidence, 0..1: the plate detector's score or the text line's box score
    candidates: tuple[str, ...] = ()  # next-best normalised readings, best first (hot lists check them too)
    state: StateGuess = UNREAD  # the issuing state, where a state reader looked at the plate


@dataclass
class ReaderResult:
    plates: list[PlateText]
    timings_ms: dict[str, float] = field(default_factory=dict)  # per stage: "detect", "crop", "ocr"
    # The plate detector's best score for any box, kept or not: how nearly it saw a plate (0 where
    # no plate detector ran).
    top_score: float = 0.0
    # Where the plate detector saw maybe a plate but none was read: boxes it scored below its
    # threshold (down to the reader's near_score), and kept boxes that gave no reading.
    unread: list[Box] = field(default_factory=list)


class PlateReader(Protocol):
    name: str  # the reader as a whole, stored with every read
    detector_name: str  # what finds the plates
    ocr_name: str  # the recognizers that read them
    runtime: str  # what runs the models (detectors/runtime.py)
    precision: str  # the precision the runtime computes in

    def read(self, image: np.ndarray) -> ReaderResult:
        """Find and read every plate in a BGR image."""
        ...

    def recognize(self, crop: np.ndarray) -> list[tuple[str, float]]:
        """Readings of one tight plate crop, best first: (normalised plate, confidence)."""
        ...
