"""Read-flow benchmark on frames: saturation with 1 and 2 processes, and frame-to-hit latency.

    .venv/bin/python benchmarks/frames_bench.py [--frames 80] [--latency-seconds 60]

Starts its own tansu and Redis (``alpr.dev.stack``) under a temporary directory and publishes simulated
frames from eight fixed cameras (eight partitions, keyed by camera: Bytewax gives partitions to
workers by hash, and four put three cameras' frames on one of two processes). Then:

1. Saturation: ``alpr run`` over the backlog with 1 process, then with 2 processes (a Bytewax
   cluster, ``-i/-a``), ONNX Runtime on one thread per process. Frames per second is measured
   between 10% and 90% of the backlog, so model loading is left out. chDB allows one process per
   database, so each process writes its own (a production cluster shares a ClickHouse server).
2. Latency: one process tailing the topic while the cameras publish live at half the measured
   one-process saturation rate, every simulated plate on a hot list; latency is from a frame's
   capture time to its hit arriving on the hits topic.

The reader is the configured one (``ALPR_READER__ENGINE=yolo`` or ``ppocr``). Prints a table and
one JSON line, with the flow's own stage times (``alpr_stage_duration_seconds``) during the latency run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from alpr import config as config_mod
from alpr import metrics
from alpr.config import SimulatorConfig
from alpr.crypto import Keyring, generate_key_file
from alpr.dev import stack
from alpr.dev.machine import cpu
from alpr.dev.simulator.traffic import Simulator
from alpr.dev.stack import free_port
from alpr.domain.types import NewEntry
from alpr.hotlists.store import HotlistStore
from alpr.messages import kafka
from alpr.messages.frames import encode_jpeg
from alpr.messages.publish import FramePublisher

TARGETS = {"scaling": ">= 1.7", "latency_p99_ms": "<= 500"}  # issue 24


def frames_done(port: int) -> float:
    return (metrics.flow_counters(port) or {}).get("alpr_frames_total", 0.0)


def flow_env(base: dict, tmp: Path, name: str) -> dict:
    return {**os.environ, **base, "ALPR_DATA_DIR": str(tmp / name), "ALPR_FLOW__RECOVERY_DIR": "off",
            "ALPR_READER__INTRA_OP_THREADS": "1", "ALPR_KAFKA__HITS_TOPIC": f"hits-{name}",
            "ALPR_KAFKA__DEAD_LETTER_TOPIC": f"dlq-{name}", "ALPR_FLOW__METRICS_PORT": str(free_port())}


def saturation(base: dict, tmp: Path, procs: int, total: int) -> float:
    """Frames per second over the backlog with this many processes."""
    ports = [free_port() for _ in range(procs)]
    addresses = ";".join(f"127.0.0.1:{p}" for p in ports)
    started = []
    metrics_ports = []
    for i in range(procs):
        env = {**flow_env(base, tmp, f"sat{procs}-{i}"), "ALPR_FLOW__TAIL": "0"}
        metrics_ports.append(int(env["ALPR_FLOW__METRICS_PORT"]) + (i if procs > 1 else 0))
        argv = [sys.executable, "-m", "alpr", "run"] + (["-i", str(i), "-a", addresses] if procs > 1 else [])
        started.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    marks: dict[float, float] = {}
    try:
        while any(p.poll() is None for p in started):
            done = sum(frames_done(port) for port in metrics_ports)
            for q in (0.1, 0.9):
                if q not in marks and done >= q * total:
                    marks[q] = time.monotonic()
            time.sleep(0.1)
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
    if len(marks) < 2:
        raise RuntimeError(f"the {procs}-process run ended before it read 90% of the frames")
    return 0.8 * total / (marks[0.9] - marks[0.1])


def stage_times(port: int) -> dict[str, dict[str, float]]:
    """Mean and p99 (ms, from the histogram's buckets) of each stage of the flow on this metrics port."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    hist: dict[str, dict] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("alpr_stage_duration_seconds", "alpr_frame_to_hit_seconds"):
            continue
        for s in family.samples:
            stage = s.labels.get("stage", "frame_to_hit")
            h = hist.setdefault(stage, {"buckets": []})
            if s.name.endswith("_bucket"):
                h["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_sum"):
                h["sum"] = s.value
            elif s.name.endswith("_count"):
                h["count"] = s.value
    out = {}
    for stage, h in hist.items():
        n = h.get("count", 0)
        if n:
            p99 = next(le for le, c in sorted(h["buckets"]) if c >= 0.99 * n)
            out[stage] = {"mean_ms": round(1000 * h["sum"] / n, 1), "p99_le_ms": round(1000 * p99), "count": int(n)}
    return out


def latency(base: dict, tmp: Path, sim_cfg: SimulatorConfig, fps_total: float, seconds: float, cfg,
            stages: dict) -> list[float]:
    """Capture-to-hit latencies (s) with cameras publishing live at fps_total frames per second; the
    flow's stage times go into ``stages``."""
    sim = Simulator(replace(sim_cfg, seed=sim_cfg.seed + 1))
    frames = [next(iter_) for iter_ in [sim.frames(realtime=False)] for _ in range(int(fps_total * seconds))]
    plates = sorted({p for f in frames for p in f.meta.true_plates or ()})
    key = tmp / "hotlist.key"
    generate_key_file(key)
    HotlistStore(redis.Redis.from_url(cfg.redis.url), Keyring.load(key, environ={})).replace(
        "stolen", [NewEntry(p, {"case": "bench"}) for p in plates])
    env = flow_env(base, tmp, "latency")
    flow = subprocess.Popen([sys.executable, "-m", "alpr", "run"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    flow_cfg = config_mod.load(environ=env)
    kafka.ensure_topics(flow_cfg)  # the hits topic must exist before it is assigned
    # as the dispatch console's feed reads the topic (alpr.messages.hit_feed): a fetch returns within 10 ms
    consumer = Consumer({**cfg.kafka.client_config(), "group.id": f"bench-{uuid.uuid4().hex}", "fetch.wait.max.ms": 10})
    topic = flow_cfg.kafka.hits_topic
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    port = int(env["ALPR_FLOW__METRICS_PORT"])
    pub = FramePublisher(replace(cfg, kafka=replace(cfg.kafka, frames_topic=base["ALPR_KAFKA__FRAMES_TOPIC"])))
    try:
        warm = frames.pop()  # one frame first: latency counts from a running flow, not from model loading
        pub.publish(replace(warm.meta, captured_at=datetime.now(timezone.utc)), encode_jpeg(warm.image))
        pub.flush()
        deadline = time.monotonic() + 120
        while frames_done(port) < 1:
            assert flow.poll() is None and time.monotonic() < deadline, "the flow did not start"
            time.sleep(0.2)
        # and its hit: this consumer's own first fetch (about 0.7 s) is not the flow's latency
        while (m := consumer.poll(0.5)) is None or m.error():
            assert flow.poll() is None and time.monotonic() < deadline, "the warm-up frame raised no hit"
        start = datetime.now(timezone.utc)
        out: list[float] = []
        stop = threading.Event()

        def collect_hits() -> None:  # hits are timed as they arrive, while the cameras keep publishing
            while not stop.is_set():
                m = consumer.poll(0.2)
                if m is None or m.error():
                    continue
                arrived = datetime.now(timezone.utc)
                captured = datetime.fromisoformat(json.loads(m.value())["captured_at"].replace("Z", "+00:00"))
                if captured >= start:
                    out.append((arrived - captured).total_seconds())

        reader = threading.Thread(target=collect_hits, daemon=True)
        reader.start()
        t0 = time.monotonic()
        for i, f in enumerate(frames):
            while time.monotonic() < t0 + i / fps_total:
                time.sleep(0.005)
            pub.publish(replace(f.meta, captured_at=datetime.now(timezone.utc)), encode_jpeg(f.image))
        pub.flush()
        time.sleep(10)  # the last frames' hits
        stop.set()
        reader.join()
        stages.update(stage_times(port))
        return out
    finally:
        consumer.close()
        flow.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument("--latency-seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, help="only measure latency, at this many frames/s")
    ap.add_argument("--before", type=Path, help="an earlier run's output (its last line, the JSON), for the table")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="alpr-frames-bench-") as t:
        tmp = Path(t)
        base = {"ALPR_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
                "ALPR_REDIS__URL": f"redis://127.0.0.1:{free_port()}/0", "ALPR_KAFKA__FRAMES_TOPIC": "frames-backlog",
                "ALPR_KAFKA__FRAMES_PARTITIONS": "8"}
        # the flows inherit this environment (ALPR_READER__ENGINE and all), so the table shows what they ran
        cfg = config_mod.load(environ={**os.environ, **base, "ALPR_DATA_DIR": str(tmp / "stack")})
        stack.up(cfg)
        base["ALPR_REDIS__URL"] = cfg.redis.url  # with the password stack.up generated, for the flows' own data dirs
        try:
            kafka.ensure_topics(cfg)
            sim_cfg = SimulatorConfig(fixed_cameras=8, mobile_units=0, seed=11, no_plate_ratio=0.1)
            sim = Simulator(sim_cfg).frames(realtime=False)
            pub = FramePublisher(cfg)
            for _ in range(args.frames):
                f = next(sim)
                pub.publish(f.meta, encode_jpeg(f.image))
            pub.flush()
            if args.rate:
                one, two, rate = None, None, args.rate  # latency only, at the given rate: no saturation measured
            else:
                print(f"published {args.frames} frames; saturating 1 process", file=sys.stderr)
                one = saturation(base, tmp, 1, args.frames)
                print("saturating 2 processes", file=sys.stderr)
                two = saturation(base, tmp, 2, args.frames)
                rate = one / 2
            live = {**base, "ALPR_KAFKA__FRAMES_TOPIC": "frames-live"}
            kafka.ensure_topics(config_mod.load(environ={**live, "ALPR_DATA_DIR": str(tmp / "stack")}))
            print(f"latency at {rate:.2f} frames/s for {args.latency_seconds:.0f} s", file=sys.stderr)
            stages: dict = {}
            lat = sorted(latency(live, tmp, sim_cfg, rate, args.latency_seconds, cfg, stages))
        finally:
            stack.down(cfg)

    def q(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, round(p * (len(lat) - 1)))] * 1000) if lat else None

    out = {"reader": cfg.reader.engine, "frames": args.frames, "fps_1_process": one and round(one, 2),
           "fps_2_processes": two and round(two, 2), "scaling": one and two and round(two / one, 2), "latency_rate_fps": round(rate, 2), "hits": len(lat),
           "latency_p50_ms": q(0.5), "latency_p95_ms": q(0.95), "latency_p99_ms": q(0.99),
           "latency_mean_ms": round(statistics.mean(lat) * 1000) if lat else None}
    before = json.loads(args.before.read_text().strip().splitlines()[-1]) if args.before else {}
    print(f"\nreader {out['reader']}; frame-to-hit at {out['latency_rate_fps']} frames/s (half of 1-process "
          f"saturation), {len(lat)} hits")
    print(f"{'':24} {'before':>8} {'now':>8} {'target':>8}")
    for key, label in (("fps_1_process", "frames/s, 1 process"), ("fps_2_processes", "frames/s, 2 processes"),
                       ("scaling", "scaling (2 / 1)"), ("latency_p50_ms", "frame-to-hit p50 ms"),
                       ("latency_p95_ms", "frame-to-hit p95 ms"), ("latency_p99_ms", "frame-to-hit p99 ms")):
        shown = ["-" if v is None else str(v) for v in (before.get(key), out[key])]
        print(f"{label:24} {shown[0]:>8} {shown[1]:>8} {TARGETS.get(key, ''):>8}")
    print(f"\n{'stage (flow histograms)':24} {'mean ms':>8} {'p99 <= ms':>10} {'count':>7}")
    for stage in ("queued", "decode", "detect", "ocr", "grouping", "hotlist", "sink", "frame_to_hit"):
        if stage in stages:
            st = stages[stage]
            print(f"{stage:24} {st['mean_ms']:>8} {st['p99_le_ms']:>10} {st['count']:>7}")
    out["stages"] = stages
    print(f"cpu: {cpu()}")
    print(json.dumps({"cpu": cpu(), **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
