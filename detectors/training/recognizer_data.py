"""The plate recognizer's training samples: crops from truth boxes (the character band, as
``PPOCRReader.recognize`` cuts a tight crop), from the text lines the stock detector finds in
whole scenes (as ``PPOCRReader.read`` cuts them), from extra labelled crops and from simulated
plates; their augmentation, batching and the validation split. Runs without torch.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np

from alpr.domain.boxes import padded
from alpr.domain.scoring import iou
from alpr.domain.types import Box
from detectors import ctc
from detectors.evaluate import endtoend_labels
from detectors.ppocr import CHAR_BAND, REC_MIN_RATIO, grow, joined_fragments, line_shape_ok, plate_box
from detectors.splits import in_training_share
from detectors.training.camera import noisy_jpeg

if TYPE_CHECKING:
    from detectors.ppocr import PPOCRReader

ALPHABET = ctc.PLATE_ALPHABET  # the cut head's classes after the CTC blank
REC_HEIGHT = 48


# Brazilian crops (br-crops): the characters span about 25-82% of the crop's rows.
EXTRA_BAND = (0.18, 0.90)
VAL_SHARE = 0.2  # of the training share, by a second name hash: model selection only
EXTRA_VAL_MAX = 100
MIN_IOU = 0.3  # a detected line's plate box must overlap the truth box this much to take its label
SCENE_MARGIN = 0.3  # share of the plate box kept around it when cutting a scene (room for jitter, rotation)
LINE_MARGIN = (0.08, 0.2)  # (of width, of height) kept around a detected line when cutting it


class Sample(NamedTuple):
    """One training crop: ``box`` (x0, y0, x1, y1) is the plate (or text line) in ``image``, ``band``
    the share of its rows that holds the characters."""

    name: str  # scene or file name, then "#k" for the k-th plate in a scene
    image: np.ndarray
    box: tuple[float, float, float, float]
    band: tuple[float, float]
    label: str


# ------------------------------------------------------------------------------------------- data
def clean_label(text: str) -> str:
    """Upper case, plate characters only (truth files hold spaces and dashes)."""
    return "".join(c for c in text.upper() if c in ALPHABET)


def scene_of(name: str) -> str:
    """The file or scene a sample was cut from: the unit of every split, so plates of one scene stay together."""
    return name.split("#", 1)[0]


def is_validation(name: str, share: float = VAL_SHARE) -> bool:
    """A second, independent hash of the training share: this share of it selects the checkpoint."""
    return in_training_share("val/" + scene_of(name), share)


def seg_and_ocr_samples(folder: Path, share: float, band: tuple[float, float] = CHAR_BAND) -> list[Sample]:
    """Tight plate crops of a ``seg_and_ocr`` folder (``groundtruth.csv``: file,state,plate; images
    in ``usimages/``) whose file is in the training share."""
    out = []
    with open(folder / "groundtruth.csv", newline="") as f:
        for row in csv.reader(f):
            if len(row) < 3 or not in_training_share(row[0], share):
                continue
            image = cv2.imread(str(folder / "usimages" / row[0]))
            label = clean_label(row[2])
            if image is None or not label:
                continue
            out.append(Sample(row[0], image, (0.0, 0.0, float(image.shape[1]), float(image.shape[0])), band, label))
    return out


def endtoend_plates(folder: Path, share: float) -> Iterable[tuple[str, np.ndarray, list[tuple[Box, str]]]]:
    """(stem, scene, [(truth box, plate)]) of an ``endtoend`` folder (NAME.jpg and NAME.txt lines
    ``NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE``) for the stems in the training share."""
    for label_file in sorted(folder.glob("*.txt")):
        if not in_training_share(label_file.stem, share):
            continue
        scene = cv2.imread(str(label_file.with_suffix(".jpg")))
        if scene is None:
            continue
        plates = [(box, clean_label(plate)) for box, plate in endtoend_labels(label_file) if clean_label(plate)]
        yield label_file.stem, scene, plates


def endtoend_samples(folder: Path, share: float, band: tuple[float, float] = CHAR_BAND,
                     margin: float = SCENE_MARGIN) -> list[Sample]:
    """Truth-box plates of an ``endtoend`` folder's training share; the scene is cut to the box plus
    ``margin`` of it on each side (context for jitter instead of a replicated border)."""
    out = []
    for stem, scene, plates in endtoend_plates(folder, share):
        for k, (b, label) in enumerate(plates):
            image, box = _cut_around(scene, (b.x, b.y, b.x + b.w, b.y + b.h), margin)
            out.append(Sample(f"{stem}#{k}", image, box, band, label))
    return out


def _cut_around(image: np.ndarray, box: tuple[float, float, float, float],
                margin: float) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """``image`` cut to ``box`` plus ``margin`` of its size on each side, and the box in the cut."""
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = padded(x0, y0, x1, y1, margin, margin, image.shape[1], image.shape[0], extra_px=2)
    return image[cy0:cy1, cx0:cx1].copy(), (float(x0 - cx0), float(y0 - cy0), float(x1 - cx0), float(y1 - cy0))


def labelled_crops_samples(folder: Path, band: tuple[float, float] = EXTRA_BAND) -> list[Sample]:
    """Tight plate crops listed in ``folder/labels.csv`` (header ``file,plate``), all of them: such a
    folder is an extra source, never scored on."""
    out = []
    with open(folder / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            image = cv2.imread(str(folder / row["file"]))
            label = clean_label(row["plate"])
            if image is None or not label:
                continue
            out.append(Sample(row["file"], image, (0.0, 0.0, float(image.shape[1]), float(image.shape[0])), band, label))
    return out


def synthetic_samples(count: int, seed: int = 0) -> list[Sample]:
    """Plates drawn by the simulator (``alpr.dev.simulator.render``: US state layouts, slogans, dealer
    frames), each the whole face with a border of bumper around it: more serials and more
    characters in every position than the few hundred real US crops, for the cost of one font."""
    from alpr.dev.simulator.plates import random_plate
    from alpr.dev.simulator.render import render_plate

    rng = random.Random(f"synthetic-{seed}")
    out = []
    for k in range(count):
        spec = random_plate(rng)
        face = render_plate(spec, rng)
        h, w = face.shape[:2]
        mx, my = int(0.1 * w), int(0.15 * h)
        colour = tuple(rng.randrange(20, 230) for _ in range(3))
        image = cv2.copyMakeBorder(face, my, my, mx, mx, cv2.BORDER_CONSTANT, value=colour)
        out.append(Sample(f"synthetic-{seed}-{k}", image, (float(mx), float(my), float(mx + w), float(my + h)), CHAR_BAND,
                          clean_label(spec.plate)))
    return out


def widen(quad: np.ndarray, left: float, right: float) -> np.ndarray:
    """The quad (clockwise from top-left) with its left and right edges moved out by a share of its
    width; ``detectors.ppocr.grow`` does top and bottom."""
    tl, tr, br, bl = quad.astype(np.float32)
    return np.stack([tl + (tl - tr) * left, tr + (tr - tl) * right, br + (br - bl) * right, bl + (bl - br) * left])


def match_lines(quads: Sequence[np.ndarray], truths: Sequence[Box], width: int, height: int,
                min_iou: float = MIN_IOU) -> list[tuple[int, np.ndarray]]:
    """(truth index, quad) for each truth box and the line whose plate box (``plate_box``, what the
    reader reports) overlaps it best, if at least ``min_iou``."""
    out = []
    boxes = [plate_box(q, width, height) for q in quads]
    for i, truth in enumerate(truths):
        scores = [iou(b, truth) for b in boxes]
        if scores and max(scores) >= min_iou:
            out.append((i, quads[int(np.argmax(scores))]))
    return out


def inner_box(width: int, height: int, margin: tuple[float, float]) -> tuple[float, float, float, float]:
    """Where the line lies in a cut of it grown by ``margin`` (of its width, of its height) on each side."""
    mx, my = margin
    return (width * mx / (1 + 2 * mx), height * my / (1 + 2 * my), width * (1 + mx) / (1 + 2 * mx),
            height * (1 + my) / (1 + 2 * my))


def detected_line_samples(folder: Path, share: float, reader: PPOCRReader | None = None,
                          margin: tuple[float, float] = LINE_MARGIN,
                          progress: Callable[[str], None] = lambda _: None) -> list[Sample]:
    """Plates of an ``endtoend`` folder's training share cut the way ``PPOCRReader.read`` cuts them:
    the stock detector's text lines (plate-shaped ones and joined fragments), each truth box given
    the line that matches it best (``match_lines``). The line is cut (``reader._cut``) with
    ``margin`` (of its width, of its height) around it so training can jitter it; the sample's box
    is the line itself and its band all of it."""
    reader = reader or stock_reader()
    out = []
    for n, (stem, scene, plates) in enumerate(endtoend_plates(folder, share), 1):
        lines = [q for q in reader._detect(scene)[0] if line_shape_ok(q)]
        candidates = lines + [q for q in joined_fragments(lines) if line_shape_ok(q)]
        h, w = scene.shape[:2]
        for k, quad in match_lines(candidates, [b for b, _ in plates], w, h):
            mx, my = margin
            image = reader._cut(scene, [grow(widen(quad, mx, mx), my, my)])[0]
            out.append(Sample(f"{stem}#{k}@line", image, inner_box(image.shape[1], image.shape[0], margin), (0.0, 1.0),
                              plates[k][1]))
        if n % 20 == 0:
            progress(f"{folder}: detected lines in {n} scenes, {len(out)} matched plates")
    return out


def band_crop(image: np.ndarray, box: tuple[float, float, float, float], band: tuple[float, float]) -> np.ndarray:
    """The character band of a box, cut as production cuts it (whole pixel rows, no augmentation)."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    return image[int(y0 + band[0] * h):int(y0 + band[1] * h), int(x0):int(x1)]


def augment(image: np.ndarray, box: tuple[float, float, float, float], band: tuple[float, float],
            rng: random.Random) -> np.ndarray:
    """A jittered, slightly rotated, degraded character band: the band's edges moved by up to 8% of
    the box height and 5% of its width (like the reader's second looks), +-3 degrees, then shrunk to
    the 14-32 px a plate has in a scene, blur, grey, brightness/contrast, noise or JPEG."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    top = y0 + band[0] * h + rng.uniform(-0.08, 0.08) * h
    bottom = y0 + band[1] * h + rng.uniform(-0.08, 0.08) * h
    left = x0 + rng.uniform(-0.05, 0.05) * w
    right = x1 + rng.uniform(-0.05, 0.05) * w
    ow, oh = max(8, int(round(right - left))), max(6, int(round(bottom - top)))
    m = cv2.getRotationMatrix2D(((left + right) / 2, (top + bottom) / 2), rng.uniform(-3, 3), 1.0)
    m[0, 2] -= left
    m[1, 2] -= top
    out = cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.5:
        target = rng.uniform(14, 32)
        if target < oh:
            s = target / oh
            out = cv2.resize(out, (max(4, round(ow * s)), max(4, round(oh * s))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.25:
        k = rng.choice([3, 3, 5])
        out = cv2.GaussianBlur(out, (k, k), rng.uniform(0.5, 1.2))
    f = out.astype(np.float32)
    if rng.random() < 0.15:
        f = np.repeat(f.mean(2, keepdims=True), 3, 2)
    if rng.random() < 0.8:
        mean = f.mean()
        f = (f - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-40, 40)
    return noisy_jpeg(f, rng, noise=(0.2, 8), jpeg=(0.3, 85))



def rec_batch(crops: Sequence[np.ndarray], width: int | None = None) -> np.ndarray:
    """(N, 3, 48, W) float32 exactly as ``PPOCRReader._recognize`` feeds the recognizer: height 48
    keeping the aspect, (x/255 - 0.5)/0.5, zero padding on the right to the batch width (at least
    320, wider for a batch holding a longer line; or ``width``, squeezing longer crops into it)."""
    if width is None:
        width = int(REC_HEIGHT * max(REC_MIN_RATIO, max(c.shape[1] / max(1, c.shape[0]) for c in crops)))
    out = np.zeros((len(crops), 3, REC_HEIGHT, width), np.float32)
    for i, crop in enumerate(crops):
        h, w = crop.shape[:2]
        rw = min(width, int(math.ceil(REC_HEIGHT * w / float(h))))
        img = cv2.resize(crop, (rw, REC_HEIGHT)).astype(np.float32).transpose(2, 0, 1) / 255
        out[i, :, :, :rw] = (img - 0.5) / 0.5
    return out


def split(samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample]]:
    """(training, validation) by ``is_validation`` of each sample's scene."""
    val = [s for s in samples if is_validation(s.name)]
    return [s for s in samples if not is_validation(s.name)], val


# ------------------------------------------------------------------------------------------ model
def stock_reader(threads: int = 2) -> PPOCRReader:
    """The reader with PP-OCRv4's own recognizer alone, which finds the lines to cut."""
    from detectors.ppocr import PPOCRReader

    return PPOCRReader(threads=threads, second_recognizer=None)


# ---------------------------------------------------------------------------------------- training
def build_samples(crops: Path | None, scenes: Path | None, extra_crops: Path | None, share: float,
                  reader: PPOCRReader | None = None, progress: Callable[[str], None] = lambda _: None) -> dict[str, list[Sample]]:
    """All training-share samples by source: ``crops`` (seg_and_ocr), ``scenes`` (endtoend truth
    boxes), ``scenes (detected lines)`` and ``extra`` (labels.csv)."""
    sources: dict[str, list[Sample]] = {}
    if crops is not None:
        sources["crops"] = seg_and_ocr_samples(crops, share)
    if scenes is not None:
        sources["scenes"] = endtoend_samples(scenes, share)
        sources["scenes (detected lines)"] = detected_line_samples(scenes, share, reader, progress=progress)
    if extra_crops is not None:
        sources["extra"] = labelled_crops_samples(extra_crops)
    for name, samples in sources.items():
        progress(f"{name}: {len(samples)} samples")
    return sources
