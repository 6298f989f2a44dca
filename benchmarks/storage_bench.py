"""Storage benchmark: a two-year, 50-camera read table in chDB, its size, and investigative search latency.

    .venv/bin/python benchmarks/storage_bench.py [--rows 100000000] [--path DIR] [--queries 30]

Builds the real schema (``alpr db migrate``) in a fresh chDB directory and fills ``reads`` with
INSERT ... SELECT FROM numbers() in chunks (the plate vocabulary fills through its materialised
view, as in production). Reads arrive in time order over two years from 40 fixed cameras and 10
mobile units; plates come from 5,000,000 vehicles with a skewed repetition (a few commuters pass
daily, most cars rarely), 20% of reads carry an OCR candidate. Then it times the product's own
search (``alpr.store.search``) for exact plates, partial plates with four known consecutive characters,
misread-tolerant plates and plate + 30 days + camera, on plates drawn from the data.
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta

from alpr import config as config_mod
from alpr.dev.machine import cpu
from alpr.store import db
from alpr.store.db import utc
from alpr.store.search import SearchQuery, search

VEHICLES = 5_000_000
PLATE_SPACE = 9 * 26**3 * 1000  # digit, three letters, three digits (California style)
MISREAD = {"0": "O", "1": "I", "8": "B", "5": "S", "2": "Z", "6": "G"}

# One row per read, from the row number alone (deterministic). h1..h3 are independent hashes.
FILL_SQL = """
INSERT INTO {db}.reads (read_id, camera_id, captured_at, seen_ms, frames, plate, candidates, confidence,
                        latitude, longitude, detector)
SELECT
    lower(hex(MD5(toString(number)))) AS read_id,
    concat(if(cam < 40, 'fixed-', 'mobile-'), leftPad(toString(cam), 2, '0')) AS camera_id,
    toDateTime64('2024-12-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(intDiv(number * {span_ms}, {rows}) + h1 % 1000)
        AS captured_at,
    toUInt32(frames * 400 + h3 % 300) AS seen_ms,
    toUInt16(1 + h2 % 6) AS frames,
    concat(toString(1 + v % 9), char(65 + intDiv(v, 9) % 26), char(65 + intDiv(v, 234) % 26),
           char(65 + intDiv(v, 6084) % 26), leftPad(toString(intDiv(v, 158184) % 1000), 3, '0')) AS plate,
    if(h2 % 5 = 0, [replaceOne(plate, '0', 'O')], []) AS candidates,
    toFloat32(0.6 + (h3 % 400) / 1000) AS confidence,
    if(cam < 40, 37.70 + cam * 0.004, 37.70 + (h1 % 100000) / 1e6 * 1.5) AS latitude,
    if(cam < 40, -122.50 + (cam % 8) * 0.02, -122.50 + (h3 % 100000) / 1e6 * 1.5) AS longitude,
    'yolo' AS detector
FROM (
    SELECT number, intHash64(number) AS h1, intHash64(number + {rows}) AS h2, intHash64(number + 2 * {rows}) AS h3,
           h1 % 50 AS cam,
           -- skewed repetition: vehicle k is seen about as often as 1/k^0.7, then scrambled over the plate space
           (toUInt64(pow((h2 % 1000000000) / 1e9, 3.3) * {vehicles}) * 2654435761) % {plate_space} AS v
    FROM numbers({start}, {count})
)
"""


def percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s), s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def progress(done: int, total: int, rate: float) -> None:
    bar = "#" * int(30 * done / total)
    print(f"\r  fill [{bar:30}] {done:,}/{total:,} rows, {rate:,.0f} rows/s", end="", file=sys.stderr, flush=True)


def misread(plate: str, rng: random.Random) -> str:
    spots = [i for i, c in enumerate(plate) if c in MISREAD]
    if not spots:
        return plate[:-1]  # a missed last character
    i = rng.choice(spots)
    return plate[:i] + MISREAD[plate[i]] + plate[i + 1:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--chunk", type=int, default=10_000_000, help="rows per INSERT")
    ap.add_argument("--path", help="chDB directory (default: a new temporary one)")
    ap.add_argument("--queries", type=int, default=30, help="queries per kind")
    args = ap.parse_args()

    path = args.path or tempfile.mkdtemp(prefix="alpr-storage-bench-")
    cfg = config_mod.load(environ={"ALPR_DATA_DIR": path, "ALPR_CLICKHOUSE__DATABASE": "bench"})
    client = db.connect(cfg)
    db.migrate(client, cfg)
    d = cfg.clickhouse.database
    span_ms = 730 * 86_400_000
    print(f"filling {args.rows:,} reads into {path}", file=sys.stderr)
    t0 = time.perf_counter()
    for start in range(0, args.rows, args.chunk):
        count = min(args.chunk, args.rows - start)
        client.command(FILL_SQL.format(db=d, span_ms=span_ms, rows=args.rows, vehicles=VEHICLES,
                                       plate_space=PLATE_SPACE, start=start, count=count))
        progress(start + count, args.rows, (start + count) / (time.perf_counter() - t0))
    ingest_s = time.perf_counter() - t0
    print(file=sys.stderr)

    size = client.query(
        "SELECT table, sum(rows), sum(data_compressed_bytes), sum(bytes_on_disk), count() FROM system.parts "
        "WHERE database = %(db)s AND active AND table IN ('reads', 'plates') GROUP BY table",
        parameters={"db": d}).result_rows
    parts = {t: (rows, comp, disk, n) for t, rows, comp, disk, n in size}
    reads_rows, _, reads_disk, reads_parts = parts["reads"]
    distinct = client.command(f"SELECT count() FROM {d}.plates FINAL")

    rng = random.Random(7)
    # plates to look for: half drawn by read (frequent cars), half by vehicle (mostly rare cars)
    by_read = [r[0] for r in client.query(
        f"SELECT plate FROM {d}.reads WHERE cityHash64(read_id) % 1000 = 7 LIMIT {args.queries}").result_rows]
    by_plate = [r[0] for r in client.query(
        f"SELECT plate FROM {d}.plates WHERE cityHash64(plate) % 100 = 3 LIMIT {args.queries}").result_rows]
    sample = [p for pair in zip(by_read, by_plate) for p in pair][: args.queries]
    # for plate + time + camera: one of the plate's own reads (its camera, the 30 days up to it)
    seen = {p: (cam, utc(t)) for p, cam, t in client.query(
        f"SELECT plate, any(camera_id), max(captured_at) FROM {d}.reads WHERE plate IN %(p)s GROUP BY plate",
        parameters={"p": sample}).result_rows}

    kinds = {
        "exact plate": lambda p: SearchQuery(plate=p),
        "partial, 4 known (*ABC1*)": lambda p: SearchQuery(plate=f"*{p[1:5]}*"),
        "misread-tolerant": lambda p: SearchQuery(plate=misread(p, rng), fuzzy=True),
        "plate + 30 days + camera": lambda p: SearchQuery(
            plate=p, since=seen[p][1] - timedelta(days=30), until=seen[p][1] + timedelta(seconds=1),
            cameras=(seen[p][0],)),
    }
    def measure() -> dict:
        results = {}
        for name, make in kinds.items():
            search(client, d, make(sample[0]))  # warm caches once
            times, found = [], 0
            for p in sample:
                t = time.perf_counter()
                page = search(client, d, make(p))
                times.append((time.perf_counter() - t) * 1000)
                found += len(page.reads)
            p50, p95 = percentiles(times)
            results[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
                             "avg_results": round(found / len(sample), 1)}
        return results

    loaded = measure()
    t = time.perf_counter()
    client.command(f"OPTIMIZE TABLE {d}.reads FINAL")  # the state background merges reach by themselves
    optimize_s = time.perf_counter() - t
    merged = measure()
    reads_disk = client.command(f"SELECT sum(bytes_on_disk) FROM system.parts WHERE database = '{d}' "
                                "AND table = 'reads' AND active")

    out = {
        "rows": reads_rows,
        "distinct_plates": distinct,
        "ingest_rows_per_s": round(args.rows / ingest_s),
        "ingest_s": round(ingest_s, 1),
        "bytes_per_read_on_disk": round(reads_disk / reads_rows, 1),
        "parts_after_load": reads_parts,
        "optimize_s": round(optimize_s, 1),
        "queries_per_kind": len(sample),
        "search_after_load": loaded,
        "search_merged": merged,
    }
    print(f"\n{'rows':28} {reads_rows:>14,}\n{'distinct plates':28} {distinct:>14,}")
    print(f"{'ingest rows/s':28} {out['ingest_rows_per_s']:>14,}  ({ingest_s:.0f} s, with the plate vocabulary view)")
    print(f"{'bytes per read on disk':28} {out['bytes_per_read_on_disk']:>14}  (reads table, no images, merged)")
    print(f"\n{'search, page of 50':28} {'just loaded (' + str(reads_parts) + ' parts)':>26} {'merged':>18}")
    print(f"{'':28} {'p50 ms':>9} {'p95 ms':>8} {'rows':>7} {'p50 ms':>9} {'p95 ms':>8}")
    for name in kinds:
        a, b = loaded[name], merged[name]
        print(f"{name:28} {a['p50_ms']:>9} {a['p95_ms']:>8} {a['avg_results']:>7} {b['p50_ms']:>9} {b['p95_ms']:>8}")
    print(f"cpu: {cpu()}")
    print(json.dumps({"cpu": cpu(), **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
