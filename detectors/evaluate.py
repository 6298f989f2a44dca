"""`alpr eval`: score a reader on labelled images.

Scenes (the openalpr-benchmarks ``endtoend`` format, ``NAME.jpg`` + ``NAME.txt`` lines of
``NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE``): the reader finds and reads plates in whole images.
Crops (the ``seg_and_ocr`` layout, ``groundtruth.csv`` of ``file,state,PLATE`` + ``usimages/``):
the reader only recognizes tight plate crops.

For each true plate: *detected* when a predicted box has IoU >= 0.5 with it; its *best read* is the
read whose box overlaps it most (else the most confident read in the image); *top-1* when that read
equals the plate, *top-N* when the plate is among that read and its candidates. *Match* counts them
as the hot lists do (``alpr.domain.matching``: look-alikes such as O/0 folded, every candidate checked): a
plate whose read matches would raise its hit, whatever the reading's spelling.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from alpr.domain.plates import normalize
from alpr.domain.scoring import Tally, confusions, iou
from alpr.domain.types import Box
from detectors.base import PlateReader

IOU_DETECTED = 0.5


def summary(tally: Tally, images: int, reader: PlateReader, scenes: bool) -> dict:
    """The JSON of `alpr eval`: the tally's rates, and which reader made them."""
    rates = tally.rates()
    return {
        "images": images,
        "plates": tally.plates,
        **rates,
        "detection_recall": rates["detection_recall"] if scenes else None,
        "detector": reader.detector_name if scenes else None,
        "ocr": reader.ocr_name,
        "runtime": reader.runtime,
        "precision": reader.precision,
    }


def _progress(done: int, total: int) -> None:
    if done % 10 == 0 or done == total:
        print(f"\r{done}/{total} images", end="\n" if done == total else "", file=sys.stderr, flush=True)


def endtoend_labels(txt: Path) -> list[tuple[Box, str]]:
    """(plate box, plate text as written) of one ``endtoend`` label file."""
    out = []
    for line in txt.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 6:
            x, y, w, h = (int(float(v)) for v in parts[1:5])
            out.append((Box(x, y, w, h), parts[5].strip()))
    return out


def evaluate_scenes(reader: PlateReader, folder: Path, limit: int | None = None) -> tuple[dict, Tally]:
    labels = sorted(folder.glob("*.txt"))[:limit]
    if not labels:
        raise FileNotFoundError(f"{folder} holds no NAME.txt label files (endtoend format)")
    tally, images = Tally(), 0
    for i, txt in enumerate(labels, 1):
        truths = [(box, normalize(plate)) for box, plate in endtoend_labels(txt)]
        image = cv2.imread(str(txt.with_suffix(".jpg")))
        if image is None or not truths:
            continue
        images += 1
        t0 = time.perf_counter()
        result = reader.read(image)
        tally.ms.append((time.perf_counter() - t0) * 1000)
        for box, truth in truths:
            detected = any(iou(p.box, box) >= IOU_DETECTED for p in result.plates)
            overlapping = sorted(result.plates, key=lambda p: iou(p.box, box), reverse=True)
            best = overlapping[0] if overlapping and iou(overlapping[0].box, box) > 0 else (
                max(result.plates, key=lambda p: p.confidence) if result.plates else None)
            reading = best.plate if best else ""
            candidates = [reading, *best.candidates] if best else []
            tally.add(truth, reading, candidates, detected, best.confidence if best else 0.0)
        _progress(i, len(labels))
    return summary(tally, images, reader, True), tally


def evaluate_crops(reader: PlateReader, folder: Path, limit: int | None = None) -> tuple[dict, Tally]:
    gt = folder / "groundtruth.csv"
    if not gt.exists():
        raise FileNotFoundError(f"{gt} not found (seg_and_ocr layout: groundtruth.csv + usimages/)")
    rows = [r for r in csv.reader(gt.read_text().splitlines()) if len(r) >= 3][:limit]
    tally, images = Tally(), 0
    for i, (name, _state, plate) in enumerate(rows, 1):
        path = folder / "usimages" / name
        if not path.exists():
            path = folder / name
        image = cv2.imread(str(path))
        if image is None:
            continue
        images += 1
        t0 = time.perf_counter()
        readings = reader.recognize(image)
        tally.ms.append((time.perf_counter() - t0) * 1000)
        best = readings[0][0] if readings else ""
        tally.add(normalize(plate), best, [p for p, _ in readings], None, readings[0][1] if readings else 0.0)
        _progress(i, len(rows))
    return summary(tally, images, reader, False), tally


def confusion_png(pairs: list[tuple[str, str]], path: Path, top: int = 24) -> int:
    """A heat map of the most frequent character substitutions (truth rows, read columns)."""
    counts = confusions(pairs)
    common = counts.most_common(top)
    chars_t = sorted({t for (t, _), _ in common})
    chars_r = sorted({r for (_, r), _ in common})
    cell, margin = 36, 60
    h, w = margin + cell * max(1, len(chars_t)) + 20, margin + cell * max(1, len(chars_r)) + 20
    img = np.full((h + 30, max(w, 420), 3), 255, np.uint8)
    cv2.putText(img, "character confusions (rows: truth, columns: read)", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    top_count = max([c for _, c in common], default=1)
    for j, r in enumerate(chars_r):
        cv2.putText(img, r, (margin + j * cell + 12, margin - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    for i, t in enumerate(chars_t):
        cv2.putText(img, t, (margin - 30, margin + i * cell + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
        for j, r in enumerate(chars_r):
            c = counts.get((t, r), 0)
            x0, y0 = margin + j * cell, margin + i * cell
            shade = int(255 - 200 * c / top_count)
            cv2.rectangle(img, (x0, y0), (x0 + cell - 2, y0 + cell - 2), (shade, shade, 255) if c else (245, 245, 245), -1)
            if c:
                cv2.putText(img, str(c), (x0 + 6, y0 + 23), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return sum(counts.values())


def table(summary: dict, tally: Tally) -> str:
    lines = [f"{k:22} {v}" for k, v in summary.items() if v is not None]
    lines += ["", "confidence of the best read vs how often it is right:"]
    lines += [f"  mean confidence {conf:.2f}: right {acc:.0%} of {n}" for conf, acc, n in tally.calibration()[1]]
    misses = Counter((t, r) for r, t in tally.pairs if r != t).most_common(8)
    if misses:
        lines += ["", "most frequent misreads (truth -> read):"] + [f"  {t} -> {r or '(nothing)'}  x{n}" for (t, r), n in misses]
    return "\n".join(lines)


