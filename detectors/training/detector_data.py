"""The plate detector's training data: a YOLO dataset from simulated scenes, real labelled scenes
(whole folders or a fixed share of one) and plate-free negatives, and the split that keeps a
held-out share apart.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from alpr.config import SimulatorConfig
from alpr.dev.simulator.dataset import box_of
from alpr.dev.simulator.traffic import Simulator
from detectors.evaluate import endtoend_labels
from detectors.splits import in_training_share

MAX_SIDE = 1280  # large photos are shrunk before training: the detector never sees more than imgsz anyway
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class DatasetStats:
    sources: dict[str, int] = field(default_factory=dict)  # images per source
    train_images: int = 0
    val_images: int = 0
    plates: int = 0
    negatives: int = 0


def _write(image: np.ndarray, boxes: list[tuple[int, int, int, int]], out: Path, name: str, split: str) -> int:
    """One image and its YOLO label file (class cx cy w h, all relative); returns the box count."""
    h, w = image.shape[:2]
    scale = min(1.0, MAX_SIDE / max(h, w))
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
    cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    lines = []
    for x, y, bw, bh in boxes:
        x0, y0 = max(0, x * scale), max(0, y * scale)  # labels beyond the border would drop the image
        x1, y1 = min(w, (x + bw) * scale), min(h, (y + bh) * scale)
        if x1 - x0 > 1 and y1 - y0 > 1:
            lines.append(f"0 {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
    (out / "labels" / split / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
    return len(lines)


def split_folder(folder: Path, share: float, held_out_dir: Path) -> list[str]:
    """The training share's image stems; the rest is linked into ``held_out_dir`` (an ``endtoend``
    folder for ``alpr eval``), so the score is taken on images the model never saw."""
    if held_out_dir.exists():
        shutil.rmtree(held_out_dir)
    held_out_dir.mkdir(parents=True)
    trained = []
    for label in sorted(folder.glob("*.txt")):
        if in_training_share(label.stem, share):
            trained.append(label.stem)
        else:
            for f in (label, label.with_suffix(".jpg")):
                (held_out_dir / f.name).symlink_to(f.resolve())
    return trained


def endtoend_items(folder: Path, only: set[str] | None = None,
                   repeat: int = 1) -> Iterable[tuple[str, np.ndarray, list[tuple[int, int, int, int]]]]:
    """(name, image, plate boxes) of an openalpr-benchmarks ``endtoend`` folder (only the stems
    given, each ``repeat`` times: a small real set otherwise drowns in simulated scenes)."""
    for label in sorted(folder.glob("*.txt")):
        if only is not None and label.stem not in only:
            continue
        image = cv2.imread(str(label.with_suffix(".jpg")))
        if image is None:
            continue
        boxes = [(b.x, b.y, b.w, b.h) for b, _ in endtoend_labels(label)]
        for k in range(repeat):
            yield f"{folder.name}-{label.stem}" + (f"-{k}" if k else ""), image, boxes


def simulated_items(count: int, seed: int) -> Iterable[tuple[str, np.ndarray, list[tuple[int, int, int, int]]]]:
    """Simulated scenes; a fresh seed per call gives new vehicles, and frames are spaced out so that
    one pass does not fill the set with near-copies."""
    sim = Simulator(SimulatorConfig(fixed_cameras=4, mobile_units=2, fps=0.25, width=1280, height=720, seed=seed,
                                    no_plate_ratio=0.1))
    frames = sim.frames(realtime=False)
    for i in range(count):
        f = next(frames)
        h, w = f.image.shape[:2]
        yield f"sim-{seed}-{i:05d}", f.image, [box_of(quad, w, h) for _, quad in f.plates]


def negative_items(folder: Path, count: int, rng: random.Random):
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for p in rng.sample(files, min(count, len(files))):
        image = cv2.imread(str(p))
        if image is not None:
            yield f"neg-{p.stem}", image, []


def build_dataset(out: Path, sim_count: int, real_dirs: list[Path], negatives_dir: Path | None, negatives: int,
                  val_fraction: float = 0.1, seed: int = 0, splits: dict[Path, tuple[list[str], int]] | None = None,
                  progress: Callable[[str], None] = lambda _: None) -> tuple[Path, DatasetStats]:
    """``splits``: folder -> (stems to train on, times to repeat them)."""
    """Writes ``out/images|labels/train|val`` and ``out/data.yaml``; returns the yaml and counts."""
    if out.exists():
        shutil.rmtree(out)
    for kind in ("images", "labels"):
        for split in ("train", "val"):
            (out / kind / split).mkdir(parents=True)
    rng = random.Random(seed)
    stats = DatasetStats()
    sources: list[tuple[str, Iterable]] = [("simulator", simulated_items(sim_count, seed + 1000))]
    sources += [(str(d), endtoend_items(d)) for d in real_dirs]
    sources += [(f"{d} (training share)", endtoend_items(d, set(stems), repeat)) for d, (stems, repeat) in (splits or {}).items()]
    if negatives_dir is not None and negatives:
        sources.append((str(negatives_dir), negative_items(negatives_dir, negatives, rng)))
    for source, items in sources:
        n = 0
        for name, image, boxes in items:
            split = "val" if rng.random() < val_fraction else "train"
            found = _write(image, boxes, out, name, split)
            stats.plates += found
            stats.negatives += found == 0
            stats.train_images += split == "train"
            stats.val_images += split == "val"
            n += 1
            if n % 100 == 0:
                progress(f"{source}: {n} images")
        stats.sources[source] = n
        progress(f"{source}: {n} images")
    data = out / "data.yaml"
    data.write_text(f"path: {out.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: plate\n")
    return data, stats


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
