"""Per-stage reader time per 1280x720 frame on one core: decode, detect, crop, OCR.

    .venv/bin/python benchmarks/reader_bench.py [--frames 40] [--readers cascade ...] [--real DIR | --simulated-only]

Pins itself to one CPU and runs the models with one thread, on simulated 1280x720 frames with one
plate each and on the real `endtoend/us` scenes resized to 1280x720 (``--real``, by default
../shared/datasets/openalpr-benchmarks/endtoend/us beside the checkout; missing, the benchmark stops
and says so, unless ``--simulated-only``), for each reader
as configured by default (OpenVINO in the precision it picks for the CPU), for `ppocr` on ONNX
Runtime and without its second recognizer, and for `cascade` held to float32 (``openvino-f32``).
Prints a table (median and p95 ms per stage, and the precision the models ran in) and one JSON line.
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

from alpr.config import Config, SimulatorConfig
from alpr.dev.machine import cpu
from alpr.dev.simulator.traffic import Simulator
from alpr.domain.scoring import percentile
from alpr.messages.frames import decode_image, encode_jpeg
from detectors.registry import READERS, make_reader

REAL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "openalpr-benchmarks" / "endtoend" / "us"
STAGES = ("decode", "detect", "crop", "ocr", "total")
TARGET = "<= 50 / <= 120"  # the default reader on real frames (issue 24)


def frames(n: int, real: Path | None) -> dict[str, list[bytes]]:
    sim = Simulator(SimulatorConfig(width=1280, height=720, no_plate_ratio=0.0, seed=3))
    it = sim.frames(realtime=False, start=datetime(2026, 11, 29, 10, tzinfo=timezone.utc))
    sets = {"simulated": [encode_jpeg(next(it).image) for _ in range(n)]}
    if real is not None:
        sets["real endtoend/us"] = [encode_jpeg(cv2.resize(cv2.imread(str(p)), (1280, 720)))
                                    for p in sorted(real.glob("*.jpg"))[:n]]
    return sets


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
        ("cascade", "cascade, f32", {"runtime": "openvino-f32"})]
    for engine, name, overrides in [v for v in variants if not args.readers or v[1] in args.readers]:
        cfg.reader = replace(Config().reader, intra_op_threads=1, **overrides)
        reader = make_reader(cfg, engine)
        for label, jpegs in frames(args.frames, real).items():
            reader.read(decode_image(jpegs[0]))  # warm-up
            times: dict[str, list[float]] = {s: [] for s in STAGES}
            for i, jpeg in enumerate(jpegs, 1):
                t0 = time.perf_counter()
                image = decode_image(jpeg)
                times["decode"].append((time.perf_counter() - t0) * 1000)
                result = reader.read(image)
                for stage in ("detect", "crop", "ocr"):
                    times[stage].append(result.timings_ms.get(stage, 0.0))
                times["total"].append((time.perf_counter() - t0) * 1000)
                print(f"\r{name} {label}: {i}/{len(jpegs)}", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
            rows.append({"reader": name, "frames": label, "n": len(jpegs), "precision": reader.precision,
                         **{f"{s}_ms_p50": round(percentile(v, 0.5), 1) for s, v in times.items()},
                         **{f"{s}_ms_p95": round(percentile(v, 0.95), 1) for s, v in times.items()}})
    print(f"\nPer 1280x720 frame, one core of {machine}, one inference thread (median / p95 ms):")
    print(f"  {'reader':20} {'precision':9} {'frames':18} " + " ".join(f"{s:>13}" for s in STAGES))
    for r in rows:
        print(f"  {r['reader']:20} {r['precision']:9} {r['frames']:18} " + " ".join(
            f"{r[f'{s}_ms_p50']:>6} / {r[f'{s}_ms_p95']:<5}" for s in STAGES))
    if args.before:
        before = {(r["reader"], r["frames"]): r for r in json.loads(args.before.read_text().strip().splitlines()[-1])["rows"]}
        print(f"\n  {'total ms, median / p95':40} {'before':>15} {'now':>15} {'target':>15}")
        for r in rows:
            b = before.get((r["reader"], r["frames"]))
            was = f"{b['total_ms_p50']} / {b['total_ms_p95']}" if b else "-"
            target = TARGET if (r["reader"], r["frames"]) == ("cascade", "real endtoend/us") else ""
            now = f"{r['total_ms_p50']} / {r['total_ms_p95']}"
            print(f"  {r['reader'] + ', ' + r['frames']:40} {was:>15} {now:>15} {target:>15}")
    print(json.dumps({"cpu": machine, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
