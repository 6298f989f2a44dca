"""The state classifier's samples: official specimens (``us-plate-specimens``: ``state.csv`` of
``file,state,design``) split by design, and real crops (``seg_and_ocr``: ``groundtruth.csv`` of
``file,state,PLATE``) split by file as the recognizer splits them; the augmentation that makes a
clean specimen look like a plate cut from a camera frame. Runs without torch.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from alpr.domain.states import STATES, state_code
from detectors.splits import in_training_share
from detectors.state_reader import INPUT_HW, state_batch
from detectors.training.camera import noisy_jpeg

SPECIMEN_TRAIN_SHARE = 0.8  # of the designs; the rest is held out for `alpr eval --states`
CROP_TRAIN_SHARE = 0.5  # of seg_and_ocr, the same split `alpr train recognizer` uses
VAL_SHARE = 0.15  # of each training share, by a second hash: checkpoint selection only


class StateSample(NamedTuple):
    name: str
    image: np.ndarray  # BGR
    state: int  # index into STATES
    real: bool  # a camera crop, not a specimen


def design_key(state: str, design: str) -> str:
    """The unit of the specimen split: one design of one state stays on one side."""
    return f"design/{state}/{design.strip().lower()}"


def specimen_rows(folder: Path) -> list[tuple[str, str, str]]:
    """(file, USPS code, design) of ``state.csv``, header skipped, unknown states dropped."""
    path = folder / "state.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (a folder of images with state.csv: file,state[,design])")
    rows = []
    for row in csv.reader(path.read_text().splitlines()[1:]):
        if len(row) >= 2 and state_code(row[1]):
            rows.append((row[0], state_code(row[1]), row[2] if len(row) > 2 else row[0]))
    return rows


def placeholders(images: dict[str, np.ndarray], states: dict[str, str]) -> set[str]:
    """Files whose picture also stands for another state ("IMAGE MISSING" cards): they teach
    nothing about a state, so they are left out of training and scoring."""
    thumbs: dict[bytes, set[str]] = {}
    keys = {}
    for name, img in images.items():
        small = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (16, 8), interpolation=cv2.INTER_AREA)
        key = (small // 16).tobytes()
        keys[name] = key
        thumbs.setdefault(key, set()).add(states[name])
    return {name for name, key in keys.items() if len(thumbs[key]) > 1}


def specimen_samples(folder: Path, share: str = "train") -> list[StateSample]:
    """The designs of the training share (``share`` "train"), the rest ("held_out") or all ("all")."""
    rows = specimen_rows(folder)
    images = {f: img for f, _, _ in rows if (img := cv2.imread(str(folder / f))) is not None}
    states = {f: s for f, s, _ in rows}
    skip = placeholders(images, states)
    out = []
    for f, s, design in rows:
        if f not in images or f in skip:
            continue
        trained = in_training_share(design_key(s, design), SPECIMEN_TRAIN_SHARE)
        if share == "all" or trained == (share == "train"):
            out.append(StateSample(f, images[f], STATES.index(s), False))
    return out


def crop_samples(folder: Path, held_out: bool = False) -> list[StateSample]:
    """Real crops of ``seg_and_ocr`` in the training share (``held_out`` for the rest)."""
    gt = folder / "groundtruth.csv"
    if not gt.exists():
        raise FileNotFoundError(f"{gt} not found (seg_and_ocr layout: groundtruth.csv + usimages/)")
    out = []
    for row in csv.reader(gt.read_text().splitlines()):
        if len(row) < 3 or not state_code(row[1]) or in_training_share(row[0], CROP_TRAIN_SHARE) == held_out:
            continue
        path = folder / "usimages" / row[0]
        img = cv2.imread(str(path if path.exists() else folder / row[0]))
        if img is not None:
            out.append(StateSample(row[0], img, STATES.index(state_code(row[1])), True))
    return out


def is_validation(sample: StateSample) -> bool:
    return in_training_share("val/" + sample.name, VAL_SHARE)


def augment(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """A plate as a camera cuts it: edges moved in or out by up to 10% (the detector's box is loose
    or clipped), a perspective tilt, shrunk to the 40-200 px a plate spans in a frame, blurred,
    recoloured (white balance, exposure, grey for infrared cameras), noisy and JPEG-compressed."""
    h, w = image.shape[:2]
    dx, dy = 0.10 * w, 0.12 * h
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + np.float32([[rng.uniform(-dx, dx), rng.uniform(-dy, dy)] for _ in range(4)])
    ow, oh = INPUT_HW[1] * 2, INPUT_HW[0] * 2
    x0, y0 = dst[:, 0].min(), dst[:, 1].min()
    sx, sy = ow / (dst[:, 0].max() - x0), oh / (dst[:, 1].max() - y0)
    # Map the jittered quad's bounding box to the output: corners pushed outwards show what lies
    # beyond the plate (here the replicated border), corners pulled inwards clip it.
    target = np.float32([[(x - x0) * sx, (y - y0) * sy] for x, y in dst])
    inverse = cv2.getPerspectiveTransform(target, src)
    border = cv2.BORDER_REPLICATE if rng.random() < 0.6 else cv2.BORDER_CONSTANT
    fill = tuple(int(rng.uniform(0, 255)) for _ in range(3))
    out = cv2.warpPerspective(image, inverse, (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=border, borderValue=fill)
    if rng.random() < 0.7:
        tw = int(rng.uniform(40, 200))
        out = cv2.resize(out, (tw, max(8, tw // 2)), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (5, 5), rng.uniform(0.4, 1.5))
    f = out.astype(np.float32)
    if rng.random() < 0.8:
        f = f * np.float32([rng.uniform(0.8, 1.2) for _ in range(3)])
    if rng.random() < 0.5:
        grey = f.mean(2, keepdims=True)
        f = grey + (f - grey) * rng.uniform(0.4, 1.3)
    if rng.random() < 0.1:
        f = np.repeat(f.mean(2, keepdims=True), 3, 2)
    if rng.random() < 0.8:
        mean = f.mean()
        f = (f - mean) * rng.uniform(0.6, 1.3) + mean + rng.uniform(-50, 40)
    if rng.random() < 0.3:
        f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** rng.uniform(0.7, 1.5)
    return noisy_jpeg(f, rng, noise=(0.3, 10), jpeg=(0.4, 90))


def batch(samples: Sequence[StateSample], rng: random.Random, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, H, W) inputs as the reader feeds them, and the state indices."""
    images = [augment(s.image, rng) if train else s.image for s in samples]
    return state_batch(images), np.array([s.state for s in samples], np.int64)


def counts(samples: Sequence[StateSample]) -> dict[str, int]:
    c = Counter(STATES[s.state] for s in samples)
    return {s: c[s] for s in STATES}
