"""Read-flow benchmark after OCR: grouping, hot-list join (1M-entry list), ClickHouse sink and hits.

    .venv/bin/python benchmarks/flow_bench.py [--reads 60000] [--entries 1000000]

Starts its own tansu and Redis (``alpr.dev.stack``) and a chDB database under a temporary directory,
loads a hot list of N entries (fields encrypted, as in production), then pushes synthetic reads
through the flow's own ``after_ocr`` stage (the steps after the reader) in one Bytewax process with
one worker: 50 cameras, vehicles passing in 3-5 frames 0.4 s apart, 1% of vehicles listed, each read
with a plate crop and a scene image. Reports reads per second, passes stored and hits published.
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bytewax.operators as op
import redis
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from alpr import config as config_mod
from alpr.crypto import Keyring, generate_key_file
from alpr.dev import stack
from alpr.dev.machine import cpu
from alpr.dev.simulator.plates import fill
from alpr.dev.stack import free_port
from alpr.domain.types import Box, FrameMeta, Location, NewEntry, PlateRead, read_id_for
from alpr.hotlists.store import HotlistStore
from alpr.messages import kafka
from alpr.store import db
from flows.read_flow import after_ocr
from sinks.kafka import ExactlyOnceKafkaSink, hit_message

LAYOUTS = ("LLL####", "#LLL###", "LL#####", "#LL####")


def synthetic_reads(n: int, listed: list[str], rng: random.Random) -> list[PlateRead]:
    crop, scene = bytes(3_000), bytes(20_000)  # typical JPEG sizes; shared, so memory stays small
    cameras = [(f"cam-{i:02d}", Location(37.7 + i * 0.001, -122.4)) for i in range(50)]
    t = datetime.now(timezone.utc) - timedelta(hours=2)
    reads: list[PlateRead] = []
    while len(reads) < n:
        cam, where = rng.choice(cameras)
        plate = rng.choice(listed) if rng.random() < 0.01 else fill(rng.choice(LAYOUTS), rng)
        t += timedelta(milliseconds=rng.randint(20, 120))
        for k in range(rng.randint(3, 5)):
            frame = FrameMeta(cam, f"{cam}-{len(reads)}", t + timedelta(milliseconds=400 * k), where)
            reads.append(PlateRead(read_id_for(frame.frame_id, 0), frame, plate, rng.uniform(0.7, 0.99),
                                   Box(100, 200, 120, 40), crop, "bench", scene_jpeg=scene))
    reads.sort(key=lambda r: r.frame.captured_at)
    return reads[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=60_000)
    ap.add_argument("--entries", type=int, default=1_000_000)
    args = ap.parse_args()
    rng = random.Random(5)

    with tempfile.TemporaryDirectory(prefix="alpr-flow-bench-") as tmp:
        cfg = config_mod.load(environ={
            "ALPR_DATA_DIR": tmp, "ALPR_REDIS__URL": f"redis://127.0.0.1:{free_port()}/0",
            "ALPR_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}", "ALPR_CLICKHOUSE__DATABASE": "bench"})
        stack.up(cfg)
        try:
            kafka.ensure_topics(cfg)
            db.migrate(db.connect(cfg), cfg)
            key = Path(tmp) / "hotlist.key"
            generate_key_file(key)
            store = HotlistStore(redis.Redis.from_url(cfg.redis.url), Keyring.load(key, environ={}))
            print(f"loading a hot list of {args.entries:,} entries", file=sys.stderr)
            plates = sorted({fill(rng.choice(LAYOUTS), rng) for _ in range(args.entries)})
            store.replace("stolen", [NewEntry(p, {"case": f"C{i}"}) for i, p in enumerate(plates)])
            reads = synthetic_reads(args.reads, plates[:5000], rng)

            flow = Dataflow("flow_bench")
            stream = op.input("reads", flow, TestingSource(reads, batch_size=500))
            hits = after_ocr(cfg, stream, store)
            messages = op.map("hit_messages", hits, lambda h: hit_message(h, cfg.kafka.hits_topic, "bench"))
            op.output("hits_out", op.key_on("one_producer", messages, lambda _: "kafka"), ExactlyOnceKafkaSink(
                kafka.producer_config(cfg), cfg.kafka.client_config(), {cfg.kafka.hits_topic: "hit_id"}))
            print(f"pushing {len(reads):,} reads through grouping, hot-list join, ClickHouse and hits", file=sys.stderr)
            t0 = time.perf_counter()
            run_main(flow)
            seconds = time.perf_counter() - t0
            client = db.connect(cfg)
            passes = client.command("SELECT count() FROM bench.reads FINAL")
            stored_hits = client.command("SELECT count() FROM bench.hits FINAL")
        finally:
            stack.down(cfg)

    out = {"reads": len(reads), "hotlist_entries": len(plates), "seconds": round(seconds, 2),
           "reads_per_s": round(len(reads) / seconds), "passes_stored": passes, "hits": stored_hits}
    print(f"\n{'reads':28} {out['reads']:>10,}\n{'hot-list entries':28} {out['hotlist_entries']:>10,}")
    print(f"{'passes stored':28} {passes:>10,}\n{'hits':28} {stored_hits:>10,}")
    print(f"{'seconds':28} {out['seconds']:>10}\n{'reads/s, one process':28} {out['reads_per_s']:>10,}")
    print(f"cpu: {cpu()}")
    print(json.dumps({"cpu": cpu(), **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
