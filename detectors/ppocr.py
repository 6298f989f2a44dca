"""PP-OCRv4 text detection plus recognition, from the ONNX models inside rapidocr-onnxruntime.

Detection runs on a downscaled frame (it finds text lines, not characters, so it needs few
pixels); recognition runs on crops cut from the full-resolution frame. Only text boxes shaped
like a plate's character line are recognised, which keeps long overlays such as the camera's
burnt-in clock out of the expensive step.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
from rapidocr_onnxruntime import RapidOCR

from alpr.domain import Box
from alpr.plates import is_plausible, normalize, readings
from detectors.base import PlateText, ReaderResult

MIN_LINE_HEIGHT_PX = 8
# On a tight plate crop the characters sit in this band of rows; above and below are the state
# name and slogan, which the recogniser otherwise blends into the reading.
CHAR_BAND = (0.20, 0.85)
# A US plate's character line is about 2.5-6.5 times as wide as it is tall.
MIN_ASPECT, MAX_ASPECT = 1.2, 7.5


class PPOCRReader:
    name = "ppocr-v4"

    def __init__(self, det_max_side: int = 960, min_confidence: float = 0.6, threads: int = 1):
        self.det_max_side = det_max_side
        self.min_confidence = min_confidence
        self.engine = RapidOCR(
            use_cls=False,
            det_limit_type="max",  # the default upscales the short side to 736 px: slow, no better
            det_intra_op_num_threads=threads,
            rec_intra_op_num_threads=threads,
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
        )

    def _detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Text line quads (N x 4 x 2, full-resolution pixels) and their scores."""
        h, w = image.shape[:2]
        scale = min(1.0, self.det_max_side / max(h, w))
        small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else image
        boxes, _ = self.engine.text_det(small)
        if boxes is None or len(boxes) == 0:
            return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
        boxes = np.asarray(boxes, np.float32) / scale
        return boxes, np.ones(len(boxes), np.float32)

    @staticmethod
    def _line_shape_ok(quad: np.ndarray) -> bool:
        width = max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))
        height = max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))
        return height >= MIN_LINE_HEIGHT_PX and MIN_ASPECT <= width / height <= MAX_ASPECT

    def read(self, image: np.ndarray) -> ReaderResult:
        t0 = time.perf_counter()
        quads, scores = self._detect(image)
        keep = [i for i, q in enumerate(quads) if self._line_shape_ok(q)]
        t1 = t_crop = time.perf_counter()
        plates: list[PlateText] = []
        if keep:
            crops = self.engine.get_crop_img_list(image, [quads[i] for i in keep])
            t_crop = time.perf_counter()
            results, _ = self.engine.text_rec(crops)
            for i, (text, conf) in zip(keep, results):
                plate = normalize(text)
                if conf < self.min_confidence or not is_plausible(plate):
                    continue
                best, *others = readings(plate)
                q = quads[i]
                x0, y0 = np.floor(q.min(0)).astype(int)
                x1, y1 = np.ceil(q.max(0)).astype(int)
                plates.append(
                    PlateText(
                        box=Box(int(max(0, x0)), int(max(0, y0)), int(x1 - max(0, x0)), int(y1 - max(0, y0))),
                        corners=tuple((float(x), float(y)) for x, y in q),
                        raw_text=text,
                        plate=best,
                        confidence=float(conf),
                        det_confidence=float(scores[i]),
                        candidates=tuple(others),
                    )
                )
        t2 = time.perf_counter()
        plates.sort(key=lambda p: (p.box.x, p.box.y))
        return ReaderResult(plates, {"detect": (t1 - t0) * 1000, "crop": (t_crop - t1) * 1000, "ocr": (t2 - t_crop) * 1000})

    def recognize(self, crop: np.ndarray) -> list[tuple[str, float]]:
        """Readings of a tight plate crop, best first: its character band, then the whole crop."""
        h = crop.shape[0]
        band = crop[int(h * CHAR_BAND[0]) : max(int(h * CHAR_BAND[1]), int(h * CHAR_BAND[0]) + 1)]
        results, _ = self.engine.text_rec([band, crop])
        out: list[tuple[str, float]] = []
        for text, conf in results:
            for plate in readings(normalize(text)) if normalize(text) else ():
                if plate not in {p for p, _ in out}:
                    out.append((plate, float(conf)))
        return out

