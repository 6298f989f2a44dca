"""Hot-list benchmark: import of a large state feed, Redis memory, and matching latency/throughput.

    .venv/bin/python benchmarks/hotlist_bench.py [--entries 1000000] [--patterns 1000] [--lookups 20000]

Starts its own Redis (through ``alpr.dev.stack``) under a temporary directory, writes a fixed-width
state feed with N entries, imports it the way ``alpr hotlist import --format state`` does, then
measures one-read lookups (the read plus two OCR candidates per call, one round trip each) for
exact hits, confusable misreads and misses, with a BOLO list of wildcard patterns loaded beside it,
and batched lookups as the flow makes them. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

from alpr import config as config_mod
from alpr.crypto import Keyring, generate_key_file
from alpr.dev import stack
from alpr.dev.machine import cpu
from alpr.dev.simulator.plates import DIGITS, LETTERS, fill
from alpr.dev.stack import free_port
from alpr.domain.types import NewEntry
from alpr.hotlists.importer import STATE_FEED, parse_state_feed
from alpr.hotlists.store import HotlistStore

LAYOUTS = ("LLL####", "#LLL###", "LL#####", "###LLL", "LLL###", "#LL####")
MISREAD = {"0": "O", "1": "I", "8": "B", "5": "S", "2": "Z", "6": "G"}


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total)
    print(f"\r{label:24} [{'#' * filled}{'.' * (width - filled)}] {done:>9,}/{total:,}", end="", file=sys.stderr, flush=True)
    if done == total:
        print(file=sys.stderr)


def write_feed(path: Path, n: int, rng: random.Random) -> list[str]:
    plates: set[str] = set()
    with open(path, "w") as fh:
        while len(plates) < n:
            p = fill(rng.choice(LAYOUTS), rng)
            if p in plates:
                continue
            plates.add(p)
            values = [p, "CA", "PC", str(rng.randint(1995, 2026)), rng.choice(("HOND", "TOYT", "FORD", "CHEV")),
                      rng.choice(("CIVIC", "CAMRY", "F150", "MALIBU")), rng.choice(("BLK", "WHI", "SIL", "RED")),
                      f"2026-{rng.randint(0, 999999):06d}", f"CA{rng.randint(0, 9999999):07d}",
                      f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}", rng.choice(("SV", "SP", "FV", "WR"))]
            fh.write("".join(v.ljust(b - a) for v, (_, a, b) in zip(values, STATE_FEED)) + "\n")
            if len(plates) % 50_000 == 0 or len(plates) == n:
                progress("writing state feed", len(plates), n)
    return sorted(plates)


def misread(plate: str, rng: random.Random) -> str | None:
    """The plate with one digit read as its confusable letter, as OCR does."""
    spots = [i for i, c in enumerate(plate) if c in MISREAD]
    if not spots:
        return None
    i = rng.choice(spots)
    return plate[:i] + MISREAD[plate[i]] + plate[i + 1:]


def timed_lookups(store: HotlistStore, queries: list[list[str]]) -> tuple[list[float], int]:
    lat, hits = [], 0
    for q in queries:
        t0 = time.perf_counter()
        found = store.match(q)
        lat.append((time.perf_counter() - t0) * 1000)
        hits += bool(found)
    return lat, hits


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def pin_redis_apart(cfg) -> bool:
    """Give Redis one core and this process the others, as a deployment gives Redis its own core;
    on a 2-core machine they otherwise preempt each other and the tail latency measures that."""
    cpus = sorted(os.sched_getaffinity(0))
    status = {s["service"]: s for s in stack.status(cfg)}
    pid = status["redis"]["pid"]
    if len(cpus) < 2 or not pid:
        return False
    os.sched_setaffinity(pid, {cpus[-1]})
    os.sched_setaffinity(0, set(cpus[:-1]))
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--patterns", type=int, default=1_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    args = ap.parse_args()
    rng = random.Random(1)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = config_mod.load(environ={"ALPR_DATA_DIR": str(tmp), "ALPR_REDIS__URL": f"redis://127.0.0.1:{free_port()}/0",
                                       "ALPR_KAFKA__BOOTSTRAP_SERVERS": "kafka.invalid:9092"})
        stack.up(cfg)
        pinned = pin_redis_apart(cfg)
        try:
            r = redis.Redis.from_url(cfg.redis.url)
            generate_key_file(tmp / "k")
            store = HotlistStore(r, Keyring.load(tmp / "k", environ={}))
            feed = tmp / "state.txt"
            plates = write_feed(feed, args.entries, rng)
            mem0 = r.info("memory")["used_memory"]

            t0 = time.perf_counter()
            with open(feed) as fh:
                parsed = parse_state_feed(fh)
            t_parse = time.perf_counter() - t0
            t1 = time.perf_counter()
            n = store.replace("stolen", parsed.entries, source=feed.name)
            t_load = time.perf_counter() - t1
            assert n == args.entries and not parsed.errors
            del parsed
            mem = r.info("memory")["used_memory"] - mem0
            print(f"imported {n:,} entries", file=sys.stderr)

            patterns = {fill(rng.choice(("LL?###*", "*L#L#*", "#LL?##", "L*###")), rng) for _ in range(args.patterns * 2)}
            patterns = sorted(p for p in patterns if sum(c.isalnum() for c in p) >= 3)[: args.patterns]
            store.replace("bolo", [NewEntry(p, {"reason": "bolo"}) for p in patterns])

            def cands(p: str) -> list[str]:  # a read and two OCR alternatives
                return [p, fill("LLL####", rng), fill("LLL####", rng)]

            exact_q = [cands(rng.choice(plates)) for _ in range(args.lookups)]
            conf_q = [cands(m) for m in (misread(rng.choice(plates), rng) for _ in range(args.lookups * 2)) if m][: args.lookups]
            miss_q = [cands("".join(rng.choice(LETTERS + DIGITS) for _ in range(8))) for _ in range(args.lookups)]
            store.match(["WARMUP1"])
            # The set-up data (a million plates) is not part of a flow worker's heap: keep the
            # garbage collector from walking it during the timed lookups.
            gc.collect()
            gc.freeze()
            rows = []
            for label, q in (("exact hit", exact_q), ("confusable misread", conf_q), ("miss", miss_q)):
                lat, hits = timed_lookups(store, q)
                rows.append({"lookup": label, "reads": len(q), "found": hits, "p50_ms": round(pct(lat, 0.5), 3),
                             "p99_ms": round(pct(lat, 0.99), 3), "reads_per_s": round(len(q) / (sum(lat) / 1000))})
                progress(f"lookups: {label}", len(q), len(q))
            batch = [p for q in exact_q[:10_000] for p in q]
            t2 = time.perf_counter()
            for i in range(0, len(batch), 300):  # 100 reads with 2 candidates each per flow batch
                store.match(batch[i : i + 300])
            batched = 10_000 / (time.perf_counter() - t2)
        finally:
            stack.down(cfg)

    summary = {
        "redis_on_own_core": pinned,
        "entries": args.entries, "wildcard_patterns": len(patterns), "parse_s": round(t_parse, 1),
        "load_s": round(t_load, 1), "import_s": round(t_parse + t_load, 1), "redis_mb": round(mem / 2**20),
        "redis_bytes_per_entry": round(mem / args.entries), "lookups": rows, "batched_reads_per_s": round(batched),
    }
    print()
    print(f"Import of {args.entries:,} entries (state feed): parse {t_parse:.1f} s + encrypt/load {t_load:.1f} s "
          f"= {t_parse + t_load:.1f} s; Redis {summary['redis_mb']} MB ({summary['redis_bytes_per_entry']} B/entry)")
    print(f"\nOne read + 2 OCR candidates per lookup, one round trip, {len(patterns)} BOLO wildcard patterns loaded"
          f"{' (Redis pinned to its own core)' if pinned else ''}:")
    print(f"  {'lookup':20} {'reads':>7} {'found':>7} {'p50 ms':>8} {'p99 ms':>8} {'reads/s':>9}")
    for row in rows:
        print(f"  {row['lookup']:20} {row['reads']:>7} {row['found']:>7} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['reads_per_s']:>9}")
    print(f"\nBatched as in the flow (100 reads x 3 plates per round trip): {batched:,.0f} reads/s")
    print(f"cpu: {cpu()}")
    print(json.dumps({"cpu": cpu(), **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
