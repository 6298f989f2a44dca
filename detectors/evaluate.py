"""`alpr eval`: score a reader on labelled images.

Scenes (the openalpr-benchmarks ``endtoend`` format, ``NAME.jpg`` + ``NAME.txt`` lines of
``NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE``): the reader finds and reads plates in whole images.
Crops (the ``seg_and_ocr`` layout, ``groundtruth.csv`` of ``file,state,PLATE`` + ``usimages/``):
the reader only recognizes tight plate crops.

For each true plate: *detected* when a predicted box has IoU >= 0.5 with it; its *best read* is the
read whose box overlaps it most (else the most confident read in the image); *top-1* when that read
equals the plate, *top-N* when the plate is among that read and its candidates. *Match* counts them
as the hot lists do (``alpr.domain.matching``: look-alikes such as O/0 folded, every candidate checked): a
plate whose read matches would raise its hit, whatever the reading's spelling. Every plate not read
exactly is put in one misread class (``alpr.domain.scoring.error_class``), counted overall and per
state where the state is known.

States (a folder of plate images with ``state.csv``: ``file,state[,design]``, a header line, as in
``us-plate-specimens``): the state reader alone, top-1 and top-3, per state, and a confusion picture.
``--crops`` scores the state of each crop too (``groundtruth.csv`` column 2). ``held_out`` keeps only
what the bundled models were not trained on: the designs outside the state classifier's training
share, the crops and scenes outside the 50% name split.
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
from alpr.domain.scoring import Tally, confusions, iou, percentile
from alpr.domain.states import STATES, state_code
from alpr.domain.types import Box
from detectors.base import PlateReader
from detectors.splits import SPLIT_SHARE, in_training_share
from detectors.state_reader import StateReader, WithStates

IOU_DETECTED = 0.5


def summary(tally: Tally, images: int, reader: PlateReader, scenes: bool) -> dict:
    """The JSON of `alpr eval`: the tally's rates, and which reader made them."""
    rates = tally.rates()
    return {
        "images": images,
        "plates": tally.plates,
        **rates,
        "detection_recall": rates["detection_recall"] if scenes else None,
        **tally.state_rates(),
        "classes": tally.class_counts(),
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


def evaluate_scenes(reader: PlateReader, folder: Path, limit: int | None = None,
                    held_out: bool = False) -> tuple[dict, Tally]:
    labels = [t for t in sorted(folder.glob("*.txt")) if not (held_out and in_training_share(t.stem, SPLIT_SHARE))][:limit]
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


def evaluate_crops(reader: PlateReader, folder: Path, limit: int | None = None,
                   held_out: bool = False) -> tuple[dict, Tally]:
    gt = folder / "groundtruth.csv"
    if not gt.exists():
        raise FileNotFoundError(f"{gt} not found (seg_and_ocr layout: groundtruth.csv + usimages/)")
    rows = [r for r in csv.reader(gt.read_text().splitlines())
            if len(r) >= 3 and not (held_out and in_training_share(r[0], SPLIT_SHARE))][:limit]
    reads_states = isinstance(reader, WithStates)
    tally, images = Tally(), 0
    for i, (name, state_text, plate) in enumerate(rows, 1):
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
        state = state_code(state_text)
        tally.add(normalize(plate), best, [p for p, _ in readings], None, readings[0][1] if readings else 0.0, state)
        if state and reads_states:
            tally.add_state(state, [s for s, _ in reader.state_of(image).ranked])
        _progress(i, len(rows))
    return summary(tally, images, reader, False), tally


def evaluate_states(states: StateReader, folder: Path, limit: int | None = None,
                    held_out: bool = False) -> tuple[dict, Tally]:
    """The state reader alone on a folder of plate images with ``state.csv``."""
    from detectors.training.state_data import specimen_samples

    samples = specimen_samples(folder, "held_out" if held_out else "all")[:limit]
    if not samples:
        raise FileNotFoundError(f"{folder}/state.csv lists no readable image of a known state")
    tally = Tally()
    for i, s in enumerate(samples, 1):
        t0 = time.perf_counter()
        guess = states.read([s.image])[0]
        tally.ms.append((time.perf_counter() - t0) * 1000)
        tally.add_state(STATES[s.state], [st for st, _ in guess.ranked])
        _progress(i, len(samples))
    rates = tally.state_rates()
    return {"images": len(samples), **rates, "held_out": held_out, "state_reader": states.name,
            "runtime": states.runtime, "precision": states.precision,
            "ms_per_image_median": round(percentile(tally.ms, 0.5), 1)}, tally


def confusion_png(pairs: list[tuple[str, str]], path: Path, top: int = 24) -> int:
    """A heat map of the most frequent character substitutions (truth rows, read columns)."""
    return heat_map(confusions(pairs), "character confusions (rows: truth, columns: read)", path, top)


def state_confusion_png(states: list[tuple[str, tuple[str, ...]]], path: Path, top: int = 30) -> int:
    """A heat map of the most frequent state mistakes (true state rows, state read columns)."""
    wrong = Counter((t, r[0] if r else "--") for t, r in states if not r or r[0] != t)
    return heat_map(wrong, "state confusions (rows: truth, columns: read)", path, top)


def heat_map(counts: Counter, title: str, path: Path, top: int) -> int:
    """The ``top`` most frequent (truth, read) pairs as a grid of counts; returns their total."""
    common = counts.most_common(top)
    chars_t = sorted({t for (t, _), _ in common})
    chars_r = sorted({r for (_, r), _ in common})
    cell, margin = 36, 60
    h, w = margin + cell * max(1, len(chars_t)) + 20, margin + cell * max(1, len(chars_r)) + 20
    img = np.full((h + 30, max(w, 420), 3), 255, np.uint8)
    cv2.putText(img, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    top_count = max([c for _, c in common], default=1)
    for j, r in enumerate(chars_r):
        cv2.putText(img, r, (margin + j * cell + 12 - 6 * (len(r) - 1), margin - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6 / len(r) ** 0.3,
                    (0, 0, 0), 2)
    for i, t in enumerate(chars_t):
        cv2.putText(img, t, (margin - 20 - 12 * len(t), margin + i * cell + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
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
    lines = [f"{k:22} {v}" for k, v in summary.items() if v is not None and k != "classes"]
    if tally.plates:
        lines += ["", "plates by class (why a plate was not read exactly):"]
        lines += [f"  {c:14} {n:5}  {n / tally.plates:6.1%}" for c, n in summary["classes"].items() if n]
        by_state = tally.classes_by_state()
        if by_state:
            lines += ["", "misreads by true state (state: class x count):"]
            lines += [f"  {s}: " + ", ".join(f"{c} x{n}" for c, n in sorted(cs.items()) if c != "exact") +
                      f"  ({cs.get('exact', 0)}/{sum(cs.values())} exact)"
                      for s, cs in by_state.items() if set(cs) - {"exact"}]
    if tally.states:
        lines += ["", "states read right first, per true state (right / plates):"]
        per = tally.state_by_state()
        lines += ["  " + "  ".join(f"{s} {k}/{n}" for s, (n, k) in list(per.items())[i:i + 8]) for i in range(0, len(per), 8)]
    if not tally.plates:
        return "\n".join(lines)
    lines += ["", "confidence of the best read vs how often it is right:"]
    lines += [f"  mean confidence {conf:.2f}: right {acc:.0%} of {n}" for conf, acc, n in tally.calibration()[1]]
    misses = Counter((t, r) for r, t in tally.pairs if r != t).most_common(8)
    if misses:
        lines += ["", "most frequent misreads (truth -> read):"] + [f"  {t} -> {r or '(nothing)'}  x{n}" for (t, r), n in misses]
    return "\n".join(lines)


