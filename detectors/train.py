"""Training the plate detector: a YOLO dataset from simulated and real scenes, ultralytics training
from the model yaml (no pretrained weights exist offline), ONNX export and a model card.

Needs the ``train`` extra (torch, ultralytics, onnx); inference runs the exported ONNX file
(``detectors.yolo``). Run it as ``alpr train detector``; the card next to the weights records the
data used and held out, the settings, the metrics and the file's sha256, so a run can be repeated.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from alpr.config import SimulatorConfig
from alpr.dev.simulator.dataset import box_of
from alpr.dev.simulator.traffic import Simulator
from detectors.evaluate import endtoend_labels

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


def in_training_share(name: str, share: float) -> bool:
    """A fixed, name-based split of a folder: the same images are trained on in every run."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


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


def _offline_ultralytics(workdir: Path) -> None:
    """Ultralytics must not reach the internet, and looks for a font it would otherwise download."""
    config_dir = workdir / "ultralytics-config"
    (config_dir / "Ultralytics").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    font = config_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        import matplotlib

        shutil.copy(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(data: Path, out_onnx: Path, *, model: str, epochs: int, imgsz: int, batch: int, workdir: Path,
          hours: float | None = None, seed: int = 0, export_size: tuple[int, int] | None = None) -> dict:
    """Trains ``model`` (a yaml from scratch, or our own earlier ``.pt`` to go on from), exports the
    best weights to ``out_onnx`` (input ``export_size`` (height, width), default ``imgsz`` square: the
    network is convolutional, so a 16:9 input sees a 16:9 frame larger for the same cost); returns
    the final metrics."""
    _offline_ultralytics(workdir)
    from ultralytics import YOLO, settings

    settings.update({"sync": False})
    yolo = YOLO(model)
    t0 = time.monotonic()
    limit = {"time": hours} if hours else {}
    yolo.train(data=str(data), epochs=epochs, **limit, imgsz=imgsz, batch=batch, device="cpu", workers=0, seed=seed,
               project=str(workdir), name="run", exist_ok=True, pretrained=model.endswith(".pt"), amp=False, plots=True,
               deterministic=True, verbose=False)
    minutes = (time.monotonic() - t0) / 60
    best = workdir / "run" / "weights" / "best.pt"
    trained = YOLO(str(best))
    val = trained.val(data=str(data), imgsz=imgsz, batch=batch, device="cpu", workers=0, plots=False, verbose=False)
    exported = Path(trained.export(format="onnx", imgsz=list(export_size or (imgsz, imgsz)), simplify=True, dynamic=False, opset=17))
    out_onnx.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(exported, out_onnx)
    epochs_done = sum(1 for _ in open(workdir / "run" / "results.csv")) - 1
    return {"epochs_done": epochs_done, "train_minutes": round(minutes, 1), "val_map50": round(float(val.box.map50), 4),
            "val_map50_95": round(float(val.box.map), 4), "val_precision": round(float(val.box.mp), 4),
            "val_recall": round(float(val.box.mr), 4), "weights_pt": str(best)}


def write_card(onnx: Path, *, model: str, epochs: int, imgsz: int, batch: int, seed: int, stats: DatasetStats,
               held_out: list[str], metrics: dict, command: str, input_size: tuple[int, int] | None = None) -> Path:
    """``NAME.json`` (for programs) and ``NAME.md`` (for people) beside the weights."""
    import ultralytics

    input_size = input_size or (imgsz, imgsz)
    card = {
        "model": onnx.name, "architecture": model, "classes": ["plate"], "imgsz": imgsz, "input": list(input_size),
        "epochs": epochs,
        "batch": batch, "seed": seed, "sha256": sha256(onnx), "bytes": onnx.stat().st_size,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": asdict(stats), "held_out": held_out, "metrics": {k: v for k, v in metrics.items() if k != "weights_pt"},
        "command": command, "ultralytics": ultralytics.__version__, "python": platform.python_version(),
        "notes": "Trained on CPU from the yaml, or from our own earlier weights named in `architecture`; never "
                 "from downloaded weights. Validation metrics are on the 10% "
                 "validation share of the training sources; report reading accuracy with `alpr eval` on the "
                 "held-out folders only.",
    }
    base_card = Path(model).with_suffix(".json")
    if model.endswith(".pt") and base_card.is_file():  # trained on from our own weights: keep their history
        card["base"] = json.loads(base_card.read_text())
    card_json = onnx.with_suffix(".json")
    card_json.write_text(json.dumps(card, indent=2) + "\n")
    lines = [f"# Plate detector `{onnx.name}`", "",
             f"- Architecture: {model}, one class (plate), input {input_size[0]}x{input_size[1]} (height x width), trained "
             f"{metrics.get('epochs_done', epochs)} epochs at {imgsz} px (batch {batch}, seed {seed}) with ultralytics {ultralytics.__version__} on CPU, from the yaml or "
             "from our own earlier weights (never downloaded ones).",
             f"- Command: `{command}`",
             f"- sha256: `{card['sha256']}` ({card['bytes']:,} bytes)",
             "", "## Data", "",
             *(f"- {src}: {n} images" for src, n in stats.sources.items()),
             f"- train {stats.train_images} images, validation {stats.val_images}; {stats.plates} plate boxes, "
             f"{stats.negatives} images without a plate",
             *(f"- held out (never trained or tuned on): {h}" for h in held_out),
             "", "## Validation (10% of the training sources)", "",
             *(f"- {k}: {v}" for k, v in card["metrics"].items()), ""]
    if "base" in card:
        base = card["base"]
        lines += ["## Trained on from", "", f"- `{base['model']}` ({base['architecture']}, {base['imgsz']} px, "
                  f"{base['metrics'].get('epochs_done', base['epochs'])} epochs), made by `{base['command']}`",
                  *(f"  - {src}: {n} images" for src, n in base["data"]["sources"].items()), ""]
    card_md = onnx.with_suffix(".md")
    card_md.write_text("\n".join(lines))
    return card_json
