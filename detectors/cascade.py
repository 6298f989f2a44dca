"""The trained plate detector first, PP-OCR's whole-frame text detection only where it is unsure.

On one core the plate detector takes about 25 ms a 720p frame and PP-OCR's text detector over the
whole frame about 160 ms (float32, Intel AMX cores; 160 and 520 ms on AMD EPYC); together they find
more plates than either. A frame where the fast reader reads some plate at
least ``accept`` confident is done; any other frame (no plate found, or only weak readings) is read
again by PP-OCR and the two sets of plates are merged. Both share one set of recognisers.
"""

from __future__ import annotations

import numpy as np

from alpr.scoring import iou
from detectors.base import PlateText, ReaderResult
from detectors.yolo import YoloPPOCRReader


class CascadeReader:
    def __init__(self, fast: YoloPPOCRReader, accept: float):
        self.fast, self.thorough = fast, fast.recognizer  # the PP-OCR reader behind the YOLO reader's crops
        self.accept = accept
        self.name = f"{fast.detector_name}, else {self.thorough.name}"
        self.detector_name = self.name
        self.ocr_name = fast.ocr_name
        self.runtime = fast.runtime

    def read(self, image: np.ndarray) -> ReaderResult:
        first = self.fast.read(image)
        if any(p.confidence >= self.accept for p in first.plates):
            return first
        second = self.thorough.read(image)
        timings = {stage: first.timings_ms.get(stage, 0.0) + second.timings_ms.get(stage, 0.0)
                   for stage in first.timings_ms.keys() | second.timings_ms.keys()}
        return ReaderResult(merge(first.plates, second.plates), timings)

    def recognize(self, crop: np.ndarray) -> list[tuple[str, float]]:
        return self.fast.recognize(crop)


def merge(a: list[PlateText], b: list[PlateText], same: float = 0.3) -> list[PlateText]:
    """Both readers' plates, one per place: of two overlapping boxes the more confident reading stays."""
    kept: list[PlateText] = []
    for plate in sorted(a + b, key=lambda p: -p.confidence):
        if all(iou(plate.box, k.box) < same for k in kept):
            kept.append(plate)
    return sorted(kept, key=lambda p: (p.box.x, p.box.y))
