"""PP-OCRv4 text detection plus plate-aware recognition, from the ONNX models inside rapidocr-onnxruntime.

Detection finds text lines in the frame. Lines shaped like a plate's character line are plate
candidates; pieces of one line split by a gap (``627 WWI``) are joined into one more candidate, and
two lines of one height stacked one above the other make a two-row plate, read top row first.
Each candidate is read from the full-resolution frame by PP-OCRv4, decoded over the plate alphabet
only (``detectors.ctc``); a reading below ``REREAD_BELOW`` gets second looks in turn until one is
sure (``LINE_VIEWS``): the line as cut read by the second recognizer (PP-OCRv6 small,
``detectors.recognizers``), the line stretched sideways read by both, then slightly taller and
shorter cuts read by PP-OCRv4 again. The most confident reading wins (where the region lists plate
layouts, one that fits a layout before one that does not). The reported box is the plate
around the line: as wide as the characters, ``1 / plate_aspect`` as tall (US plates: 12 x 6 in).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from rapidocr_onnxruntime import RapidOCR

from alpr.domain.plates import PlateFormat, is_plausible
from alpr.domain.types import Box
from detectors import ctc, recognizers, stacked
from detectors.base import PlateText, ReaderResult
from detectors.recognizers import Recognizer
from detectors.runtime import OPENVINO, load_model

MIN_LINE_HEIGHT_PX = 8
# On a tight plate crop the characters sit in this band of rows; above and below are the state
# name and slogan, which the recognizer otherwise blends into the reading.
CHAR_BAND = (0.20, 0.85)
# A crop narrower than this (width / height) may be a two-row plate (motorcycle 7 x 4 in, European
# 280 x 200 mm); US car plates are 2:1 and every development crop is at least 1.86. Its rows:
TWO_ROW_BELOW = 1.8
TWO_ROWS = ((0.08, 0.50), (0.50, 0.92))
# A US plate's character line is about 2.5-6.5 times as wide as it is tall.
MIN_ASPECT, MAX_ASPECT = 1.2, 7.5
PLATE_ASPECT = 2.0  # width / height of the plate: 12 x 6 in for US plates; 520 x 110 mm (4.7) in Europe
# Second looks at a reading below REREAD_BELOW, in order, until one is ``SURE``: (recognizer, top,
# bottom, stretch) with recognizer 0 the first and 1 the second, the line grown or shrunk at its top
# or bottom by a share of its height or stretched sideways (the recognizer then has more frames per
# character and drops fewer). How they were chosen: docs/experiments.md, "Second looks".
LINE_VIEWS = ((1, 0.0, 0.0, 1.0), (0, 0.0, 0.0, 1.4), (1, 0.0, 0.0, 1.4), (0, 0.08, 0.0, 1.0), (0, -0.08, 0.0, 1.0),
              (0, 0.0, -0.08, 1.0))
REREAD_BELOW = 0.9
SURE = 0.95
CANDIDATES = 5
REC_MIN_RATIO, REC_BATCH = 320 / 48, 6  # as rapidocr batches its recognizer

# Whether recognized text could be a plate: (text as read, the region's reading of it) -> bool.
Plausible = Callable[[str, str], bool]


def text_plausible(text: str, reading: str) -> bool:
    """A text line anywhere in the frame: judged as read, so that words such as COLLINS or LOGAN on
    a dealer frame or sign do not become plates once their O is read as 0."""
    return is_plausible(text)


def plate_plausible(text: str, reading: str) -> bool:
    """The character band of a found plate holds its serial, not the state name, so it is judged by
    the region's reading: ``CKOAIP`` is ``CK0AIP`` on a US plate."""
    return is_plausible(reading)


def vanity_plausible(text: str, reading: str) -> bool:
    """The band of a plate the detector is sure of: all-letter vanity plates count as well."""
    return is_plausible(reading, letters_only=True)


def line_shape_ok(quad: np.ndarray) -> bool:
    width = max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))
    height = max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))
    return height >= MIN_LINE_HEIGHT_PX and MIN_ASPECT <= width / height <= MAX_ASPECT


def grow(quad: np.ndarray, top: float, bottom: float) -> np.ndarray:
    """The quad (clockwise from top-left) with its top and bottom edges moved out by a share of its height."""
    tl, tr, br, bl = quad.astype(np.float32)
    return np.stack([tl + (tl - bl) * top, tr + (tr - br) * top, br + (br - tr) * bottom, bl + (bl - tl) * bottom])


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def joined_fragments(quads: Sequence[np.ndarray], max_gap: float = 1.0, max_height_ratio: float = 1.7) -> list[np.ndarray]:
    """Lines made of two or more neighbouring text boxes of similar height on one baseline (a gap no
    wider than ``max_gap`` line heights), as axis-aligned quads; single boxes are not returned."""
    boxes = [[*q.min(0), *q.max(0), 1] for q in quads]  # x0, y0, x1, y1, pieces
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                ha, hb = a[3] - a[1], b[3] - b[1]
                overlap = min(a[3], b[3]) - max(a[1], b[1])
                gap = max(a[0], b[0]) - min(a[2], b[2])
                if overlap >= 0.5 * min(ha, hb) and max(ha, hb) <= max_height_ratio * min(ha, hb) and gap <= max_gap * max(ha, hb):
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), a[4] + b[4]]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return [rect(*b[:4]) for b in boxes if b[4] > 1]


def stacked_rows(quads: Sequence[np.ndarray], max_gap: float = 0.6, max_height_ratio: float = 1.25,
                 min_overlap: float = 0.6, min_width_ratio: float = 0.4) -> list[tuple[int, int]]:
    """(top, bottom) index pairs of lines one above the other, as on two-row plates (motorcycles,
    trailers, many European plates): nearly the same height, most of the narrower line's width shared,
    not much narrower than each other, and a gap under ``max_gap`` line heights. A US plate's state name
    and slogan are smaller than its characters, so they do not pair with them."""
    boxes = [(*q.min(0), *q.max(0)) for q in quads]  # x0, y0, x1, y1
    pairs = []
    for i, (ax0, ay0, ax1, ay1) in enumerate(boxes):
        for j, (bx0, by0, bx1, by1) in enumerate(boxes):
            ha, hb = ay1 - ay0, by1 - by0
            shared = min(ax1, bx1) - max(ax0, bx0)
            wa, wb = ax1 - ax0, bx1 - bx0
            if (i != j and ay0 < by0 and max(ha, hb) <= max_height_ratio * min(ha, hb) and min(wa, wb) >= min_width_ratio * max(wa, wb)
                    and shared >= min_overlap * min(wa, wb) and -0.3 * min(ha, hb) <= by0 - ay1 <= max_gap * max(ha, hb)):
                pairs.append((i, j))
    return pairs


def plate_box(quad: np.ndarray, width: int, height: int, aspect: float = PLATE_ASPECT) -> Box:
    """The plate around a character line: as wide as the line, ``1 / aspect`` as tall, same centre."""
    x0, y0 = quad.min(0)
    x1, y1 = quad.max(0)
    h = max(y1 - y0, (x1 - x0) / aspect)
    cy = (y0 + y1) / 2
    top, bottom = max(0, int(cy - h / 2)), min(height, int(np.ceil(cy + h / 2)))
    left, right = max(0, int(x0)), min(width, int(np.ceil(x1)))
    return Box(left, top, right - left, bottom - top)


def _inside_quad(quad: np.ndarray, outline: np.ndarray) -> bool:
    """Whether a line's centre lies within an axis-aligned outline (a joined line)."""
    (cx, cy), (x0, y0), (x1, y1) = quad.mean(0), outline.min(0), outline.max(0)
    return x0 <= cx <= x1 and y0 <= cy <= y1


def _touches(quad: np.ndarray, box: Box) -> bool:
    """Whether a text line's extent overlaps the box."""
    x0, y0 = quad.min(0)
    x1, y1 = quad.max(0)
    return x0 < box.x + box.w and x1 > box.x and y0 < box.y + box.h and y1 > box.y


def _inside(small: Box, big: Box) -> bool:
    ix = max(0, min(small.x + small.w, big.x + big.w) - max(small.x, big.x))
    iy = max(0, min(small.y + small.h, big.y + big.h) - max(small.y, big.y))
    return ix * iy >= 0.6 * small.w * small.h


def _det_input(pre, image: np.ndarray) -> np.ndarray | None:
    """rapidocr's detector preprocessing (resize to a multiple of 32, normalise, NCHW) in float32:
    its own normalises in float64, which took 60 ms a 720p frame. None for an image too small."""
    resized = pre.resize(image)
    if resized is None:
        return None
    mean, std = pre.mean.astype(np.float32), pre.std.astype(np.float32)
    return ((resized.astype(np.float32) * np.float32(pre.scale) - mean) / std).transpose(2, 0, 1)[None]


class PPOCRReader:
    name = "ppocr-v4"
    detector_name = name  # PP-OCR's own text detector finds the lines that become plate boxes

    def __init__(self, det_max_side: int = 1280, min_confidence: float = 0.3, threads: int = 1,
                 plate_aspect: float = PLATE_ASPECT, recognizer: Path | None = None,
                 second_recognizer: str | Path | None = recognizers.PPOCR_V6_SMALL, runtime: str = OPENVINO,
                 plate_format: PlateFormat = PlateFormat()):
        """``recognizer``: the first recognizer, a trained ONNX file (``recognizers.trained``); None
        for PP-OCRv4's own. ``second_recognizer``: one for the second looks (``recognizers.load``), or
        None. ``runtime``: what runs the models (``detectors.runtime``). ``plate_format``: the region's
        plate-text rules."""
        self.det_max_side = det_max_side
        self.runtime = runtime
        self.plate_format = plate_format
        self.min_confidence = min_confidence
        self.plate_aspect = plate_aspect
        # rapidocr's pre- and post-processing around our own detection and recognition models.
        self.engine = RapidOCR(
            use_cls=False,
            det_limit_type="max",  # the default upscales the short side to 736 px: slow, no better
            intra_op_num_threads=1,  # its own sessions stay unused
            inter_op_num_threads=1,
        )
        self.det = load_model(recognizers.rapidocr_model("ch_PP-OCRv4_det_infer.onnx"), threads, runtime)
        first = recognizers.trained(recognizer, threads, runtime) if recognizer else recognizers.ppocr_v4(threads, runtime)
        self.recognizers = [first] + ([recognizers.load(second_recognizer, threads, runtime)] if second_recognizer else [])
        self.ocr_name = "+".join(r.name for r in self.recognizers)
        self.precision = first.model.precision

    def _detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Text line quads (N x 4 x 2, clockwise from top-left, full-resolution pixels) and their
        detection scores (the mean text probability inside each, 0..1)."""
        h, w = image.shape[:2]
        scale = min(1.0, self.det_max_side / max(h, w))
        small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else image
        # rapidocr's TextDetector.__call__, step by step: it keeps the frame's preprocessing on itself,
        # which worker threads sharing this reader would overwrite for each other, and drops the scores.
        det, (sh, sw) = self.engine.text_det, small.shape[:2]
        x = _det_input(det.get_preprocess(max(sh, sw)), small)
        kept: list[tuple[np.ndarray, float]] = []
        if x is not None:  # else too small to detect in
            for box, score in zip(*det.postprocess_op(self.det(x), (sh, sw))):
                box = det.clip_det_res(det.order_points_clockwise(box), sh, sw)
                if min(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[0] - box[3])) >= 4:
                    kept.append((box, float(score)))
        quads = np.asarray([b for b, _ in kept], np.float32).reshape(-1, 4, 2) / scale
        return quads, np.asarray([s for _, s in kept], np.float32)

    def _cut(self, image: np.ndarray, quads: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self.engine.get_crop_img_list(image, [q.astype(np.float32) for q in quads]) if len(quads) else []

    def _recognize(self, crops: Sequence[np.ndarray], models: Sequence[Recognizer]) -> list[list[ctc.Char]]:
        """The most confident decoding of each crop among ``models``, in batches of similar width (a
        batch is padded to its widest); no decoding at all without models."""
        out: list[list[ctc.Char]] = [[] for _ in crops]
        if not models:
            return out
        ratios = [c.shape[1] / max(1, c.shape[0]) for c in crops]
        order = sorted(range(len(crops)), key=ratios.__getitem__)
        for start in range(0, len(order), REC_BATCH):
            idx = order[start:start + REC_BATCH]
            ratio = max(REC_MIN_RATIO, ratios[idx[-1]])
            batch = np.stack([self.engine.text_rec.resize_norm_img(crops[i], ratio) for i in idx]).astype(np.float32)
            for model in models:
                for i, chars in zip(idx, model(batch)):
                    if not out[i] or ctc.confidence(chars) > ctc.confidence(out[i]):
                        out[i] = chars
        return out

    def has_text_lines(self, image: np.ndarray, max_side: int) -> bool:
        """Whether the text detector, on the image shrunk to ``max_side``, finds a line shaped like a
        plate's: a cheap look for plates too large for the plate detector."""
        h, w = image.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        return any(line_shape_ok(q) for q in self._detect(small)[0])

    def read_text(self, crops: Sequence[np.ndarray]) -> list[str]:
        """What the first recognizer reads in each crop, A-Z and 0-9 only (a plate's state name and
        slogan lines, for the state reader)."""
        return [ctc.text(chars) for chars in self._recognize(crops, self.recognizers[:1])]

    def _read_lines(self, image: np.ndarray, quads: Sequence[np.ndarray], plausible: Plausible | None,
                    looked: Sequence[int] | None = None) -> tuple[list[list[ctc.Char]], list[list[list[ctc.Char]]], float]:
        """The best decoding of each line (``_rank``), taking second looks only at weak ones (with
        ``plausible``, only at those that could be a plate; with ``looked``, only at the lines of
        those indices) until they are sure; the other looks' decodings of each line; and the
        milliseconds spent cutting."""
        t0 = time.perf_counter()
        crops = self._cut(image, quads)
        cut_ms = (time.perf_counter() - t0) * 1000
        best = self._recognize(crops, self.recognizers[:1])
        looks: list[list[list[ctc.Char]]] = [[] for _ in crops]
        weak = [i for i in (range(len(best)) if looked is None else looked) if self._rank(best[i]) < (True, REREAD_BELOW)
                and (plausible is None or self._plate_readings(best[i], plausible))]
        for model, top, bottom, stretch in LINE_VIEWS:
            if not weak:
                break
            if model >= len(self.recognizers):
                continue
            t0 = time.perf_counter()
            if (top, bottom) == (0, 0):
                views = [crops[i] for i in weak]
            else:
                views = self._cut(image, [grow(quads[i], top, bottom) for i in weak])
            if stretch != 1:
                views = [cv2.resize(v, (round(v.shape[1] * stretch), v.shape[0]), interpolation=cv2.INTER_CUBIC) for v in views]
            cut_ms += (time.perf_counter() - t0) * 1000
            for i, chars in zip(weak, self._recognize(views, self.recognizers[model:model + 1])):
                if not chars:
                    continue
                if self._rank(chars) > self._rank(best[i]):
                    best[i], chars = chars, best[i]
                looks[i].append(chars)
            weak = [i for i in weak if self._rank(best[i]) < (True, SURE)]
        return best, looks, cut_ms

    def _rank(self, chars: Sequence[ctc.Char]) -> tuple[bool, float]:
        """How good a decoding is: one that fits the region's plate layouts (where it has any) before
        one that does not, then the more confident."""
        return self.plate_format.fits(ctc.text(chars)), ctc.confidence(chars)

    def _plate_readings(self, chars: Sequence[ctc.Char], plausible: Plausible | None,
                        looks: Sequence[Sequence[ctc.Char]] = ()) -> list[tuple[str, float]]:
        """Readings with confidences, best first (by the plate format, see ``PlateFormat``); with
        ``plausible``, only of text it accepts. After the ``CANDIDATES`` readings of ``chars`` (its
        runner-up characters) come the readings of the line's other looks (``looks``: a character
        one look dropped, another read), each at most as sure as the reading."""
        texts = ctc.candidates(chars, CANDIDATES)
        if texts and looks:
            looked = [(ctc.text(look), min(ctc.confidence(look), texts[0][1])) for look in looks if look]
            texts += sorted(looked, key=lambda t: -t[1])
        out: dict[str, float] = {}
        for text, conf in texts:
            plates = self.plate_format.readings(text)
            if plausible is not None and not plausible(text, plates[0]):
                continue
            for plate in plates:
                out.setdefault(plate, conf)
        return list(out.items())

    def read(self, image: np.ndarray, focus: Box | None = None) -> ReaderResult:
        """Every plate in the image; with ``focus``, only text lines that reach into that box are read."""
        t0 = time.perf_counter()
        detected, scores = self._detect(image)
        shaped = [i for i, q in enumerate(detected) if line_shape_ok(q) and (focus is None or _touches(q, focus))]
        lines, line_scores = [detected[i] for i in shaped], [float(scores[i]) for i in shaped]
        joined = [q for q in joined_fragments(lines) if line_shape_ok(q)]
        t1 = time.perf_counter()
        decoded, looks, cut_ms = self._read_lines(image, lines + joined, text_plausible)
        t2 = time.perf_counter()
        # A two-row plate is read top row first; its rows are candidates of their own as well. A lone
        # character above a plate (a sticker, a badge) is not a row.
        rows = [(a, b) for a, b in stacked_rows(lines) if len(decoded[a]) >= 2 and len(decoded[b]) >= 2]
        quads = lines + joined + [rect(*np.minimum(lines[a].min(0), lines[b].min(0)), *np.maximum(lines[a].max(0), lines[b].max(0)))
                                  for a, b in rows]
        decoded += [decoded[a] + decoded[b] for a, b in rows]
        looks += [[] for _ in rows]
        # A line made of several is as sure as its least sure piece.
        joined_scores = [min((s for q, s in zip(lines, line_scores) if _inside_quad(q, j)), default=0.0) for j in joined]
        det_scores = line_scores + joined_scores + [min(line_scores[a], line_scores[b]) for a, b in rows]
        h, w = image.shape[:2]
        found: list[tuple[PlateText, bool]] = []  # (plate, read from joined pieces or rows)
        for k, (quad, chars, det_score) in enumerate(zip(quads, decoded, det_scores)):
            plates = self._plate_readings(chars, text_plausible, looks[k])
            if not plates or plates[0][1] < self.min_confidence:
                continue
            box = plate_box(quad, w, h, self.plate_aspect)
            spread = (box.h / max(1.0, float(np.ptp(quad[:, 1]))) - 1) / 2
            corners = grow(quad, spread, spread)
            (plate, conf), *others = plates
            found.append((PlateText(box=box, corners=tuple((float(x), float(y)) for x, y in corners), raw_text=ctc.text(chars),
                                    plate=plate, confidence=conf, det_confidence=det_score, candidates=tuple(p for p, _ in others)),
                          k >= len(lines)))
        # A joined line or two-row plate read with confidence replaces the pieces it was made of.
        wholes = [p.box for p, is_joined in found if is_joined]
        kept = [p for p, is_joined in found if is_joined or not any(_inside(p.box, b) for b in wholes)]
        kept.sort(key=lambda p: (p.box.x, p.box.y))
        return ReaderResult(kept, {"detect": (t1 - t0) * 1000, "crop": cut_ms, "ocr": (t2 - t1) * 1000 - cut_ms})

    def recognize(self, crop: np.ndarray, plausible: Plausible | None = None, aspect: float | None = None) -> list[tuple[str, float]]:
        """Readings of a tight plate crop, best first, from its character band; a plate shaped like a
        two-row plate (``aspect``, width / height, where the crop has a margin around the plate; else
        the crop's) is also read row by row, and the better reading (``_rank``) wins. Small characters
        beside the serial (``detectors.stacked``) are left out of the band; the whole band's readings
        follow as candidates. ``plausible``: only readings it accepts (``plate_plausible``, ...)."""
        h, w = crop.shape[:2]
        if h < 4 or w < 4:
            return []
        span = stacked.serial_span(crop)
        band = rect(0, h * CHAR_BAND[0], w, h * CHAR_BAND[1])
        bands = [band] if span is None else [rect(span[0], h * CHAR_BAND[0], span[1], h * CHAR_BAND[1]), band]
        two_rows = (aspect or w / h) < TWO_ROW_BELOW
        if two_rows:
            bands += [rect(0, h * top, w, h * bottom) for top, bottom in TWO_ROWS]

        # Second looks only where a reading can win: the serial (or the band) and the rows. The whole
        # band beside a serial only adds candidates.
        primary = [0, len(bands) - 2, len(bands) - 1] if two_rows else [0]
        decoded, looks, _ = self._read_lines(crop, bands, plausible, primary)
        if two_rows:
            decoded[0] = max(decoded[0], decoded[-2] + decoded[-1], key=self._rank)
        if span is None:
            return self._plate_readings(decoded[0], plausible, looks[0])
        # Small characters beside the serial: the serial alone first, the whole band's readings after it.
        readings = dict(self._plate_readings(decoded[0], plausible, looks[0]))
        for plate, conf in self._plate_readings(decoded[1], plausible):
            readings.setdefault(plate, min(conf, min(readings.values(), default=1.0)))
        return list(readings.items())[:CANDIDATES]
