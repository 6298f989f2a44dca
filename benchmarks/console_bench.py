"""Console benchmark: a hit produced to Kafka until an open console's stream delivers it.

    .venv/bin/python benchmarks/console_bench.py [--hits 60] [--consoles 1,10,50]

Starts its own tansu and Redis (``alpr.dev.stack``) and chDB under a temporary directory, and the
API server with its hit feed in this process (as `alpr serve` runs it). For each number of consoles,
that many dispatchers log on and hold the Server-Sent Events stream open (httpx, one thread each);
then hits are produced one every 50 ms, as the flow's Kafka sink sends them, and each console notes
when each hit arrives. The delay is arrival minus the moment before the produce call. A browser adds
its own rendering (tests/app/test_console.py measures that end to end). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone

import httpx
import redis
from confluent_kafka import Producer

from alpr import config as config_mod
from alpr.access.gate import Access
from alpr.app import server
from alpr.dev import stack
from alpr.dev.machine import cpu
from alpr.dev.stack import free_port
from alpr.domain import passwords
from alpr.domain.types import Box, FrameMeta, Hit, HotlistEntry, Location, PlateRead, hit_id_for, read_id_for
from alpr.store import db
from alpr.store.users import User
from sinks.kafka import hit_message

PASSWORD = "benchmark-passphrase-not-common-42"
PURPOSE = "benchmark of the dispatch console"


def a_hit(n: int) -> Hit:
    frame = FrameMeta("fixed-01", f"bench-{n}-{time.time_ns()}", datetime.now(timezone.utc), Location(40.71, -74.0))
    read = PlateRead(read_id_for(frame.frame_id, 0), frame, f"7BEN{n:03d}", 0.9, Box(0, 0, 10, 5), b"", "bench")
    entry = HotlistEntry("stolen", f"e{n}", read.plate)
    return Hit(hit_id_for("fixed-01", "stolen", entry.entry_id, read.read_id), read, entry, "exact", read.plate)


class Watcher(threading.Thread):
    """One console: holds the stream open and notes when each hit arrives."""

    def __init__(self, url: str, token: str):
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.live = threading.Event()
        self.arrived: dict[str, float] = {}
        self.stop = False

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.stream("GET", f"{self.url}/v1/hits/stream", params={"purpose": PURPOSE}, headers=headers,
                          timeout=None) as response:
            event = ""
            for line in response.iter_lines():
                if self.stop:
                    return
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "live":
                        self.live.set()
                elif line.startswith("data: ") and event == "hit":
                    self.arrived[json.loads(line[6:])["hit_id"]] = time.time()


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hits", type=int, default=60)
    ap.add_argument("--consoles", default="1,10,50")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_mod.load(environ={"ALPR_DATA_DIR": tmp, "ALPR_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
                                       "ALPR_REDIS__URL": f"redis://127.0.0.1:{free_port()}/0"})
        stack.up(cfg)
        try:
            client = db.connect(cfg)
            db.migrate(client, cfg)
            access = Access(cfg, client, redis.Redis.from_url(cfg.redis.url))
            today = date.today()
            access.users.put(User("disp.bench", "Bench", "City PD", "dispatcher",
                                  password_hash=passwords.hash_password(PASSWORD), trained_at=today,
                                  certified_until=today + timedelta(days=30), policy_reviewed_at=today))
            port = free_port()
            srv = server.build(cfg, "127.0.0.1", port)
            srv.config.log_level = "warning"
            threading.Thread(target=srv.run, daemon=True).start()
            url = f"http://127.0.0.1:{port}"
            while not srv.started:
                time.sleep(0.05)
            srv.feed.ready.wait(15)
            producer = Producer(cfg.kafka.client_config())
            rows = []
            for count in (int(c) for c in args.consoles.split(",")):
                token = httpx.post(f"{url}/v1/logon", json={"username": "disp.bench", "password": PASSWORD}).json()["token"]
                watchers = [Watcher(url, token) for _ in range(count)]
                for w in watchers:
                    w.start()
                for w in watchers:
                    assert w.live.wait(30), "a console did not connect"
                sent: dict[str, float] = {}
                for n in range(args.hits):
                    m = hit_message(a_hit(n), cfg.kafka.hits_topic, cfg.clickhouse.database)
                    sent[a_hit_id(m)] = time.time()
                    producer.produce(m.topic, key=m.key, value=m.value, headers=m.headers)
                    producer.poll(0)
                    time.sleep(0.05)
                producer.flush(10)
                time.sleep(1.5)
                delays = [(w.arrived[h] - t) * 1000 for w in watchers for h, t in sent.items() if h in w.arrived]
                missing = count * len(sent) - len(delays)
                for w in watchers:
                    w.stop = True
                rows.append({"consoles": count, "hits": len(sent), "deliveries": len(delays), "missing": missing,
                             "p50_ms": round(statistics.median(delays), 1), "p99_ms": round(pct(delays, 0.99), 1),
                             "max_ms": round(max(delays), 1)})
            srv.stop()
        finally:
            stack.down(cfg)

    print(f"{'consoles':>8} {'hits':>5} {'delivered':>9} {'missing':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for r in rows:
        print(f"{r['consoles']:>8} {r['hits']:>5} {r['deliveries']:>9} {r['missing']:>7} {r['p50_ms']:>7} "
              f"{r['p99_ms']:>7} {r['max_ms']:>7}")
    print(f"cpu: {cpu()}")
    print(json.dumps({"benchmark": "console", "cpu": cpu(), "rows": rows}))


def a_hit_id(message) -> str:
    return dict(message.headers)["hit_id"].decode()


if __name__ == "__main__":
    main()
