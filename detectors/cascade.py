"""The trained plate detector first, PP-OCR's text detection only where it is unsure.

On one core the plate detector takes about 13 ms a 720p frame and PP-OCR's text detector over the
whole frame about 95 ms (bfloat16 on Intel AMX cores; 25 and 160 ms in float32, 160 and 520 ms on
AMD EPYC); together they find more plates than either. A frame where the fast reader reads every
plate at least ``accept`` confident is done. Around each plate it read weakly PP-OCR reads again
(``window``: three plate widths and heights each way, at least 0.35 of the frame's; a window of three
plates alone was too small for the text detector), and there only the text lines that reach into the
weak plate's box, doubled: the window's other text is signs and stickers. A sure plate elsewhere in
the frame does not spare a weak one its second look, nor a place where the detector saw maybe a
plate (a box scored at least ``gate_score``, 0.1, below its threshold) or read none in a box it kept.
Where it found none, PP-OCR reads the whole frame, unless the frame looks empty: the plate detector
scored no box even ``gate_score`` and
the text detector finds no line shaped like a plate's on the frame shrunk to ``gate_side`` (384 px),
where a plate too large for the plate detector still shows. An empty road then costs the plate
detector and that small look, not the whole-frame look (figures in docs/experiments.md). The two sets of plates are merged. Both
share one set of recognizers.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from alpr.domain.scoring import iou
from alpr.domain.types import Box
from detectors.base import PlateText, ReaderResult
from detectors.yolo import YoloPPOCRReader

WINDOW = 3.0  # the window PP-OCR rereads around a weak plate, in plate widths and heights
MIN_WINDOW = 0.35  # and at least this share of the frame's width and height
FOCUS = 2.0  # the lines read again in that window reach into the weak plate's box grown this much


class CascadeReader:
    def __init__(self, fast: YoloPPOCRReader, accept: float, gate_score: float = 0.1, gate_side: int = 384):
        """``gate_side`` 0: every frame without a plate gets the whole-frame look."""
        self.fast, self.thorough = fast, fast.recognizer  # the PP-OCR reader behind the YOLO reader's crops
        self.accept = accept
        self.gate_score, self.gate_side = gate_score, gate_side
        self.name = f"{fast.detector_name}, else {self.thorough.name}"
        self.detector_name = self.name
        self.ocr_name = fast.ocr_name
        self.runtime = fast.runtime
        self.precision = fast.precision

    def read(self, image: np.ndarray) -> ReaderResult:
        first = self.fast.read(image)
        weak = [p.box for p in first.plates if p.confidence < self.accept] + first.unread
        if first.plates and not weak:
            return first
        h, w = image.shape[:2]
        if not first.plates and self.gate_side and self.looks_empty(image, first):
            return first
        # around a weak plate only the lines that reach into it are read again (doubled, for a box
        # the detector placed loosely): the window's other text is signs and stickers
        if first.plates:
            looks = [(window(box, w, h), grown(box, FOCUS)) for box in weak]
        else:
            looks = [(Box(0, 0, w, h), None)]
        timings, plates = dict(first.timings_ms), list(first.plates)
        for win, focus in looks:
            near = Box(focus.x - win.x, focus.y - win.y, focus.w, focus.h) if focus else None
            second = self.thorough.read(image[win.y:win.y + win.h, win.x:win.x + win.w], focus=near)
            for stage, ms in second.timings_ms.items():
                timings[stage] = timings.get(stage, 0.0) + ms
            plates = merge(plates, [shifted(p, win.x, win.y) for p in second.plates])
        return ReaderResult(plates, timings)

    def looks_empty(self, image: np.ndarray, first: ReaderResult) -> bool:
        """No near-plate for the plate detector and no plate-shaped text line in a small copy."""
        if first.top_score >= self.gate_score:
            return False
        t0 = time.perf_counter()
        empty = not self.thorough.has_text_lines(image, self.gate_side)
        first.timings_ms["detect"] = first.timings_ms.get("detect", 0.0) + (time.perf_counter() - t0) * 1000
        return empty

    def recognize(self, crop: np.ndarray) -> list[tuple[str, float]]:
        return self.fast.recognize(crop)


def window(box: Box, width: int, height: int, size: float = WINDOW, least: float = MIN_WINDOW) -> Box:
    """``size`` times the box each way around its centre, at least ``least`` of the frame each way,
    within the frame."""
    w, h = max(box.w * size, width * least), max(box.h * size, height * least)
    x0 = int(min(max(0, box.x + box.w / 2 - w / 2), max(0, width - w)))
    y0 = int(min(max(0, box.y + box.h / 2 - h / 2), max(0, height - h)))
    return Box(x0, y0, min(width, int(np.ceil(x0 + w))) - x0, min(height, int(np.ceil(y0 + h))) - y0)


def grown(box: Box, factor: float) -> Box:
    """The box ``factor`` times as wide and high around its centre (it may leave the frame)."""
    w, h = box.w * factor, box.h * factor
    return Box(int(box.x + box.w / 2 - w / 2), int(box.y + box.h / 2 - h / 2), int(w), int(h))


def shifted(plate: PlateText, dx: int, dy: int) -> PlateText:
    """A plate read in a window, in frame pixels."""
    return replace(plate, box=Box(plate.box.x + dx, plate.box.y + dy, plate.box.w, plate.box.h),
                   corners=tuple((x + dx, y + dy) for x, y in plate.corners))


def merge(a: list[PlateText], b: list[PlateText], same: float = 0.3) -> list[PlateText]:
    """Both readers' plates, one per place: of two overlapping boxes the more confident reading stays."""
    kept: list[PlateText] = []
    for plate in sorted(a + b, key=lambda p: -p.confidence):
        if all(iou(plate.box, k.box) < same for k in kept):
            kept.append(plate)
    return sorted(kept, key=lambda p: (p.box.x, p.box.y))
