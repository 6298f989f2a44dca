"""API benchmark: an authenticated plate search through ``alpr serve``, with its audit record, on 1M reads.

    .venv/bin/python benchmarks/api_bench.py [--rows 1000000] [--queries 200]

Starts its own Redis (``alpr.dev.stack``) and a chDB database under a temporary directory, fills it
with the storage benchmark's two-year read generator and creates a certified officer. Then, side by
side on the same plates: the search alone and one audit record alone (library calls, in a child
process), and the whole HTTP request to ``alpr serve`` running as its own process (session check,
eligibility, role and purpose, search, audit record, JSON). chDB allows one process per database,
so the library part runs and exits before the server starts. Logon is timed apart: its password
hash is slow on purpose. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from storage_bench import FILL_SQL, PLATE_SPACE, VEHICLES  # noqa: E402

from alpr import config as config_mod  # noqa: E402
from alpr.dev import stack  # noqa: E402
from alpr.dev.machine import cpu
from alpr.dev.stack import free_port  # noqa: E402

PASSWORD = "benchmark-passphrase-not-common-42"


def pcts(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"p50_ms": round(statistics.median(s), 2), "p95_ms": round(s[round(0.95 * (len(s) - 1))], 2),
            "p99_ms": round(s[round(0.99 * (len(s) - 1))], 2)}


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def prepare(env: dict, rows: int, queries: int, out: multiprocessing.Queue) -> None:
    """Fill the database, add the officer, time the library calls; runs in a child process."""
    import redis

    from alpr.access.gate import Access
    from alpr.domain import passwords
    from alpr.store import db
    from alpr.store.audit import AuditRecord
    from alpr.store.search import SearchQuery, search
    from alpr.store.users import User

    cfg = config_mod.load(environ=env)
    client = db.connect(cfg)
    db.migrate(client, cfg)
    client.command(FILL_SQL.format(db=cfg.clickhouse.database, span_ms=730 * 86_400_000, rows=rows, vehicles=VEHICLES,
                                   plate_space=PLATE_SPACE, start=0, count=rows))
    client.command(f"OPTIMIZE TABLE {cfg.clickhouse.database}.reads FINAL")
    plates = [r[0] for r in client.query(f"SELECT plate FROM {cfg.clickhouse.database}.reads "
                                         f"WHERE cityHash64(read_id) % 97 = 1 LIMIT {queries}").result_rows]
    access = Access(cfg, client, redis.Redis.from_url(cfg.redis.url))
    today = date.today()
    access.users.put(User("ofc.bench", "Bench Officer", "City PD", "officer",
                          password_hash=passwords.hash_password(PASSWORD), trained_at=today,
                          certified_until=today + timedelta(days=30), policy_reviewed_at=today))
    d = cfg.clickhouse.database
    lib = timed(lambda i: search(client, d, SearchQuery(plate=plates[i % len(plates)])), queries)
    audit = timed(lambda i: access.audit.write(AuditRecord(
        username="ofc.bench", action="search_reads", outcome="allowed", plates=(plates[i % len(plates)],))), queries)
    out.put((plates, lib, audit))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="alpr-api-bench-") as tmp:
        port = free_port()
        env = {"ALPR_DATA_DIR": tmp, "ALPR_REDIS__URL": f"redis://127.0.0.1:{free_port()}/0",
               "ALPR_CLICKHOUSE__DATABASE": "bench", "ALPR_API__PORT": str(port)}
        cfg = config_mod.load(environ=env)
        stack.up(cfg)
        server = None
        try:
            print(f"filling {args.rows:,} reads and timing the library calls", file=sys.stderr)
            queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
            child = multiprocessing.get_context("spawn").Process(target=prepare, args=(env, args.rows, args.queries, queue))
            child.start()
            plates, lib, audit = queue.get()
            child.join()

            print("starting alpr serve and timing HTTP requests", file=sys.stderr)
            server = subprocess.Popen([sys.executable, "-m", "alpr", "serve"], env={**os.environ, **env},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base) as http:
                for _ in range(300):
                    try:
                        if http.get("/v1/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                logon = timed(lambda i: http.post("/v1/logon", json={"username": "ofc.bench", "password": PASSWORD}), 5)
                token = http.post("/v1/logon", json={"username": "ofc.bench", "password": PASSWORD}).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}

                def api(i: int) -> None:
                    r = http.get("/v1/reads", headers=headers,
                                 params={"plate": plates[i % len(plates)], "purpose": "API load benchmark", "case": "B-1"})
                    assert r.status_code == 200, r.text

                api(0)  # warm up
                end_to_end = timed(api, args.queries)
        finally:
            if server:
                server.terminate()
                server.wait(10)
            stack.down(cfg)

    rows = {"logon (scrypt, deliberate)": pcts(logon), "search only (library)": pcts(lib),
            "audit record only (library)": pcts(audit), "API search + audit (HTTP)": pcts(end_to_end)}
    print(f"\n{args.rows:,} reads, {args.queries} queries per line, alpr serve as one process\n")
    print(f"{'':30} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, r in rows.items():
        print(f"{name:30} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['p99_ms']:>8}")
    print(f"cpu: {cpu()}")
    print(json.dumps({"cpu": cpu(), "rows": args.rows, "queries": args.queries, **rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
