"""Per-stage reader time per 1280x720 frame on one core (decode, detect, crop, OCR, state), and the
plates read exactly, by class of frame.

    .venv/bin/python benchmarks/reader_bench.py [--frames 40] [--readers cascade ...] [--real DIR | --simulated-only]

Pins itself to one CPU and runs the models with one thread, for each reader as configured by
default (OpenVINO in the precision it picks for the CPU), for `ppocr` on ONNX Runtime and without
its second recognizer, and for `cascade` held to float32 (``openvino-f32``). The frames:

- simulated 1280x720 frames with one plate each;
- real `endtoend/us` scenes resized to 1280x720 (``--real``, by default
  ../shared/datasets/openalpr-benchmarks/endtoend/us beside the checkout; missing, the benchmark
  stops and says so, unless ``--simulated-only``): "real, a plate";
- the same scenes with their plates painted out (inpainted): "real, no plate", a fixed camera's
  empty road;
- "real, three plates": three scenes' strips side by side, a plate in each; and "real, the three
  alone": each strip on its own grey frame at the same place, so that the plates read exactly in a
  frame of three compare with the same plates read alone.

Prints a table (median and p95 ms per stage, the precision the models ran in, plates read exactly)
and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from alpr.config import Config, SimulatorConfig
from alpr.dev.machine import cpu
from alpr.dev.simulator.dataset import box_of
from alpr.dev.simulator.traffic import Simulator
from alpr.domain.plates import normalize
from alpr.domain.scoring import iou, percentile
from alpr.domain.types import Box
from alpr.messages.frames import decode_image, encode_jpeg
from detectors.evaluate import endtoend_labels
from detectors.registry import READERS, make_reader

REAL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "openalpr-benchmarks" / "endtoend" / "us"
STAGES = ("decode", "detect", "crop", "ocr", "state", "total")
# issue 29: the default reader, median / p95 ms
TARGETS = {"real, a plate": "<= 40 / <= 120", "real, no plate": "<= 30 median"}
W, H = 1280, 720
LEGACY = {"real endtoend/us": "real, a plate"}  # frame classes as earlier runs named them

Truth = list[tuple[Box, str]]


def real_scenes(real: Path, n: int) -> list[tuple[np.ndarray, Truth]]:
    """The first ``n`` labelled scenes, resized to 1280x720, with their plate boxes scaled alike."""
    out = []
    for label in sorted(real.glob("*.txt"))[:n]:
        image = cv2.imread(str(label.with_suffix(".jpg")))
        sx, sy = W / image.shape[1], H / image.shape[0]
        truth = [(Box(int(b.x * sx), int(b.y * sy), int(b.w * sx), int(b.h * sy)), normalize(p)) for b, p in endtoend_labels(label)]
        out.append((cv2.resize(image, (W, H)), truth))
    return out


def painted_out(image: np.ndarray, truth: Truth) -> np.ndarray:
    """The scene with its plates (and a margin: the frame, the bolts) inpainted away."""
    mask = np.zeros(image.shape[:2], np.uint8)
    for b, _ in truth:
        cv2.rectangle(mask, (b.x - b.w // 8, b.y - b.h // 4), (b.x + b.w + b.w // 8, b.y + b.h + b.h // 4), 255, -1)
    return cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA)


def strip(image: np.ndarray, box: Box, width: int) -> tuple[np.ndarray, Box]:
    """A full-height strip ``width`` wide centred on the plate, and the plate's box in it."""
    x0 = int(min(max(0, box.x + box.w / 2 - width / 2), W - width))
    return image[:, x0:x0 + width], Box(box.x - x0, box.y, box.w, box.h)


def three_up(scenes: list[tuple[np.ndarray, Truth]]) -> tuple[list[tuple[np.ndarray, Truth]], list[tuple[np.ndarray, Truth]]]:
    """Frames of three scenes' strips side by side (one plate each), and each strip alone on grey."""
    one = [(img, truth[0]) for img, truth in scenes if len(truth) == 1 and truth[0][0].w < W // 3 - 20]
    together, alone = [], []
    width = W // 3
    for k in range(0, len(one) - 2, 3):
        frame, truth = np.full((H, W, 3), 110, np.uint8), []
        for j, (img, (box, plate)) in enumerate(one[k:k + 3]):
            piece, b = strip(img, box, width)
            frame[:, j * width:(j + 1) * width] = piece
            placed = Box(b.x + j * width, b.y, b.w, b.h)
            truth.append((placed, plate))
            single = np.full((H, W, 3), 110, np.uint8)
            single[:, j * width:(j + 1) * width] = piece
            alone.append((single, [(placed, plate)]))
        together.append((frame, truth))
    return together, alone


def frames(n: int, real: Path | None) -> dict[str, list[tuple[bytes, Truth]]]:
    sim = Simulator(SimulatorConfig(width=W, height=H, no_plate_ratio=0.0, seed=3))
    it = sim.frames(realtime=False, start=datetime(2026, 11, 29, 10, tzinfo=timezone.utc))
    simulated = []
    for _ in range(n):
        f = next(it)
        simulated.append((encode_jpeg(f.image), [(Box(*box_of(q, W, H)), p) for p, q in f.plates]))
    sets = {"simulated": simulated}
    if real is not None:
        scenes = real_scenes(real, n)
        together, alone = three_up(real_scenes(real, 3 * n))
        sets["real, a plate"] = [(encode_jpeg(img), t) for img, t in scenes]
        sets["real, no plate"] = [(encode_jpeg(painted_out(img, t)), []) for img, t in scenes]
        sets["real, three plates"] = [(encode_jpeg(img), t) for img, t in together]
        sets["real, the three alone"] = [(encode_jpeg(img), t) for img, t in alone]
    return sets


def exactly_read(plates, truth: Truth) -> int:
    """Plates of the truth read exactly by the read overlapping them most."""
    right = 0
    for box, plate in truth:
        best = max(plates, key=lambda p: iou(p.box, box), default=None)
        right += best is not None and iou(best.box, box) > 0 and best.plate == plate
    return right


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--readers", nargs="*", help="only these rows, by name (e.g. cascade \"ppocr, v4 only\")")
    ap.add_argument("--real", type=Path, default=REAL, help="folder of real scenes (*.jpg)")
    ap.add_argument("--simulated-only", action="store_true", help="run without the real scenes")
    ap.add_argument("--before", type=Path, help="an earlier run's output (its last line, the JSON), for the table")
    args = ap.parse_args()
    machine = cpu()  # before this process is pinned to one core
    real = None if args.simulated_only else args.real
    if real is not None and not any(real.glob("*.jpg")):
        print(f"error: no real scenes (*.jpg) in {real}: pass --real DIR, or --simulated-only", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cfg = Config()
    rows = []
    variants = [(name, name, {}) for name in READERS] + [
        ("ppocr", "ppocr, onnxruntime", {"runtime": "onnxruntime"}), ("ppocr", "ppocr, v4 only", {"second_recognizer": ""}),
        ("cascade", "cascade, f32", {"runtime": "openvino-f32"}),
        ("cascade", "cascade, no state", {"state_weights": "none"}),
        ("cascade", "cascade, state classifier only", {"state_text": False})]
    sets = frames(args.frames, real)
    for engine, name, overrides in [v for v in variants if not args.readers or v[1] in args.readers]:
        cfg.reader = replace(Config().reader, intra_op_threads=1, **overrides)
        reader = make_reader(cfg, engine)
        for label, items in sets.items():
            reader.read(decode_image(items[0][0]))  # warm-up
            times: dict[str, list[float]] = {s: [] for s in STAGES}
            plates = right = 0
            for i, (jpeg, truth) in enumerate(items, 1):
                t0 = time.perf_counter()
                image = decode_image(jpeg)
                times["decode"].append((time.perf_counter() - t0) * 1000)
                result = reader.read(image)
                for stage in ("detect", "crop", "ocr", "state"):
                    times[stage].append(result.timings_ms.get(stage, 0.0))
                times["total"].append((time.perf_counter() - t0) * 1000)
                plates += len(truth)
                right += exactly_read(result.plates, truth)
                print(f"\r{name} {label}: {i}/{len(items)}", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
            rows.append({"reader": name, "frames": label, "n": len(items), "precision": reader.precision,
                         "plates": plates, "read_exactly": right,
                         **{f"{s}_ms_p50": round(percentile(v, 0.5), 1) for s, v in times.items()},
                         **{f"{s}_ms_p95": round(percentile(v, 0.95), 1) for s, v in times.items()}})
    print(f"\nPer 1280x720 frame, one core of {machine}, one inference thread (median / p95 ms):")
    print(f"  {'reader':20} {'precision':9} {'frames':22} {'read exactly':>13} " + " ".join(f"{s:>13}" for s in STAGES))
    for r in rows:
        exact = f"{r['read_exactly']}/{r['plates']}" if r["plates"] else "-"
        print(f"  {r['reader']:20} {r['precision']:9} {r['frames']:22} {exact:>13} " + " ".join(
            f"{r[f'{s}_ms_p50']:>6} / {r[f'{s}_ms_p95']:<5}" for s in STAGES))
    if args.before:
        before = {(r["reader"], LEGACY.get(r["frames"], r["frames"])): r
                  for r in json.loads(args.before.read_text().strip().splitlines()[-1])["rows"]}
        print(f"\n  {'total ms, median / p95':40} {'before':>15} {'now':>15} {'target':>15}")
        for r in rows:
            b = before.get((r["reader"], r["frames"]))
            was = f"{b['total_ms_p50']} / {b['total_ms_p95']}" if b else "-"
            target = TARGETS.get(r["frames"], "") if r["reader"] == "cascade" else ""
            now = f"{r['total_ms_p50']} / {r['total_ms_p95']}"
            print(f"  {r['reader'] + ', ' + r['frames']:40} {was:>15} {now:>15} {target:>15}")
    print(json.dumps({"cpu": machine, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
