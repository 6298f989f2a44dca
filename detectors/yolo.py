"""A trained YOLO plate detector (ONNX, on the configured runtime) with PP-OCR recognition on its crops.

The detector finds whole plates, not text lines, in a small letterboxed copy of the frame, so it is
fast and ignores clocks and signs; each plate is cut from the full-resolution frame and read by the
PP-OCR recognizer (character band first, see ``PPOCRReader.recognize``; finding the character line
with PP-OCR's text detector first was measured and gave no gain for its cost). Weights come from
``alpr train detector``; a user's own ``.onnx`` (one class, ultralytics layout) works the same, and a
``.pt`` is exported to ONNX once when ultralytics is installed.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from alpr.domain.boxes import padded
from alpr.domain.plates import PlateFormat
from alpr.domain.types import Box
from detectors.base import PlateText, ReaderResult
from detectors.ppocr import PPOCRReader, plate_plausible, vanity_plausible
from detectors.recognizers import PPOCR_V6_SMALL
from detectors.runtime import OPENVINO, load_model

BUNDLED = Path(__file__).parent / "models" / "plate_yolov8n_288x512.onnx"
CROP_PAD = (0.06, 0.12)  # share of the box added left/right and top/bottom: a tight box clips characters
NMS_IOU = 0.45


def onnx_weights(path: Path) -> Path:
    """The ONNX file for a weights path; a ``.pt`` is exported beside itself the first time."""
    if path.suffix == ".onnx":
        return path
    if path.suffix != ".pt":
        raise ValueError(f"detector weights must be .onnx or .pt, got {path}")
    exported = path.with_suffix(".onnx")
    if not exported.exists() or exported.stat().st_mtime < path.stat().st_mtime:
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise ValueError(f"{path}: .pt weights need ultralytics (pip install -e '.[train]'), "
                             "or export them to ONNX first") from exc
        YOLO(str(path)).export(format="onnx", simplify=True, dynamic=False)
    return exported


class YoloDetector:
    """Plate boxes and scores from a one-class YOLO model exported by ultralytics."""

    def __init__(self, weights: Path, threshold: float = 0.25, threads: int = 1, runtime: str = OPENVINO):
        self.model = load_model(onnx_weights(weights), threads, runtime)
        shape, out = self.model.input_shape, self.model.output_shape
        if not (len(shape) == 4 and shape[2] and shape[3] and len(out) == 3 and out[1] and out[2] and 4 < out[1] < out[2]):
            raise ValueError(f"{weights}: expected a fixed-size ultralytics detection export with output "
                             f"(1, 4 + classes, anchors), got input {shape} and output {out}")
        self.size = (shape[2], shape[3])  # (height, width): a 16:9 export wastes no pixels on padding
        self.threshold = threshold

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N x 4 boxes as x0, y0, x1, y1 in frame pixels, N scores), best first."""
        return self.detect(image)[:2]

    def detect(self, image: np.ndarray, near: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """The boxes and scores; the boxes scored from ``near`` up to the threshold (near misses,
        after the same suppression); and the best score of any box, kept or not."""
        canvas, r, left, top = letterbox(image, self.size)
        blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        pred = self.model(blob)[0].T  # (anchors, 4 + classes)
        boxes, scores = decode(pred, r, left, top, image.shape[1], image.shape[0], min(near, self.threshold))
        kept = scores >= self.threshold
        return boxes[kept], scores[kept], boxes[~kept], float(pred[:, 4:].max()) if len(pred) else 0.0


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, int, int]:
    """The image scaled to fit ``size`` (height, width) and centred on grey, as ultralytics trains it;
    returns the canvas, the scale and the left and top padding."""
    h, w = image.shape[:2]
    r = min(size[0] / h, size[1] / w)
    nw, nh = round(w * r), round(h * r)
    top, left = (size[0] - nh) // 2, (size[1] - nw) // 2
    canvas = np.full((*size, 3), 114, np.uint8)
    canvas[top:top + nh, left:left + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas, r, left, top


def decode(pred: np.ndarray, r: float, left: int, top: int, width: int, height: int,
           threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (cx, cy, w, h, class scores...) on the letterboxed canvas to frame boxes after
    non-maximum suppression, best first."""
    scores = pred[:, 4:].max(1)
    keep = scores >= threshold
    pred, scores = pred[keep], scores[keep]
    if not len(pred):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    cx, cy, bw, bh = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([(cx - bw / 2 - left) / r, (cy - bh / 2 - top) / r,
                      (cx + bw / 2 - left) / r, (cy + bh / 2 - top) / r], 1)
    boxes = np.clip(boxes, 0, [width, height, width, height])
    xywh = [[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in boxes]
    idx = np.asarray(cv2.dnn.NMSBoxes(xywh, scores.tolist(), threshold, NMS_IOU), int).reshape(-1)
    return boxes[idx], scores[idx]


class YoloPPOCRReader:
    name = "yolo+ppocr-v4"
    detector_name = "yolov8n-plate"

    def __init__(self, weights: Path | None = None, threshold: float = 0.25, min_confidence: float = 0.3,
                 threads: int = 1, recognizer: Path | None = None, second_recognizer: str | Path | None = PPOCR_V6_SMALL,
                 runtime: str = OPENVINO, plate_format: PlateFormat = PlateFormat(), det_max_side: int = 1280,
                 plate_aspect: float = 2.0, vanity_score: float = 0.3, near_score: float = 0.1):
        """``vanity_score``: a box scored at least this is a plate even where its reading holds no digit
        (a vanity plate); a weaker one needs a digit, or it is taken for a badge or a dealer's name.
        ``near_score``: a box scored at least this but below ``threshold`` is reported as unread."""
        self.detector = YoloDetector(weights or BUNDLED, threshold, threads, runtime)
        # Reads the crops; also a whole-frame reader of its own (``CascadeReader``), hence its settings.
        self.recognizer = PPOCRReader(det_max_side, min_confidence, threads, plate_aspect, recognizer, second_recognizer,
                                      runtime, plate_format)
        self.ocr_name = self.recognizer.ocr_name
        self.runtime = runtime
        self.precision = self.detector.model.precision
        self.min_confidence = min_confidence
        self.vanity_score = vanity_score
        self.near_score = near_score

    def read(self, image: np.ndarray) -> ReaderResult:
        t0 = time.perf_counter()
        boxes, scores, near, top_score = self.detector.detect(image, self.near_score)
        t1 = time.perf_counter()
        h, w = image.shape[:2]
        crops = []
        for x0, y0, x1, y1 in boxes:
            cx0, cy0, cx1, cy1 = padded(x0, y0, x1, y1, *CROP_PAD, w, h)
            crops.append(image[cy0:cy1, cx0:cx1])
        t2 = time.perf_counter()
        plates: list[PlateText] = []
        unread = [Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0)) for x0, y0, x1, y1 in near]
        for (x0, y0, x1, y1), score, crop in zip(boxes, scores, crops):
            if crop.shape[0] < 4 or crop.shape[1] < 4:
                continue
            plausible = vanity_plausible if score >= self.vanity_score else plate_plausible
            readings = [(p, c) for p, c in self.recognizer.recognize(crop, plausible, (x1 - x0) / (y1 - y0)) if c >= self.min_confidence]
            if not readings:
                unread.append(Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
                continue
            (plate, conf), *others = readings
            box = Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))
            plates.append(PlateText(box=box, corners=((x0, y0), (x1, y0), (x1, y1), (x0, y1)), raw_text=plate,
                                    plate=plate, confidence=conf, det_confidence=float(score),
                                    candidates=tuple(p for p, _ in others)))
        t3 = time.perf_counter()
        plates.sort(key=lambda p: (p.box.x, p.box.y))
        return ReaderResult(plates, {"detect": (t1 - t0) * 1000, "crop": (t2 - t1) * 1000, "ocr": (t3 - t2) * 1000},
                            top_score, unread)

    def recognize(self, crop: np.ndarray) -> list[tuple[str, float]]:
        return self.recognizer.recognize(crop)
