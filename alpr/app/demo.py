"""``alpr demo``: local stack, demo hot list, simulator and read flow for a minute, then a report.

The flow runs as its own process with the API and the dispatch console beside it (``alpr run
--serve``), so a newcomer can watch hits arrive; this process publishes simulated frames, watches the
flow's Prometheus endpoint for progress, and reads ClickHouse only after the flow has exited,
because chDB lets one process at a time open the database. The console's demo dispatcher account
lasts as long as the demo: it is disabled when the demo ends.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Callable

import httpx
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from alpr import metrics
from alpr.access.gate import Access
from alpr.config import Config
from alpr.crypto import Keyring, generate_key_file
from alpr.dev import stack
from alpr.dev.simulator.plates import fill
from alpr.dev.simulator.traffic import Simulator
from alpr.domain import passwords, roles
from alpr.domain.scoring import pass_scores
from alpr.domain.types import NewEntry
from alpr.hotlists.store import HotlistStore
from alpr.messages import kafka
from alpr.messages.frames import encode_jpeg
from alpr.messages.publish import FramePublisher
from alpr.store import db
from alpr.store.audit import AuditRecord
from alpr.store.users import User

DEMO_USER = "demo.dispatcher"

EXAMPLE_SQL = """SELECT camera_id, count() AS reads, uniqExact(plate) AS plates,
       round(avg(confidence), 3) AS avg_confidence, max(captured_at) AS last_read
FROM {db}.reads FINAL
WHERE captured_at >= %(since)s
GROUP BY camera_id ORDER BY camera_id"""


def load_demo_hotlists(store: HotlistStore, sim: Simulator, rng: random.Random) -> dict[str, list[str]]:
    """A stolen-vehicle list and a BOLO list: some simulated plates plus unrelated entries."""
    plates = [p.plate for p in sim.pool]
    rng.shuffle(plates)
    stolen, bolo = plates[:12], plates[12:15]
    filler = {fill(rng.choice(("LLL####", "#LLL###", "LL#####")), rng) for _ in range(2000)} - set(plates)
    store.replace("stolen", [NewEntry(p, {"reason": "stolen vehicle", "case": f"DEMO-{i:04d}"})
                             for i, p in enumerate(stolen + sorted(filler))], source="demo")
    store.replace("bolo", [NewEntry(p, {"reason": "BOLO: armed robbery suspect vehicle", "case": "DEMO-B1"})
                           for p in bolo], source="demo")
    return {"stolen": stolen, "bolo": bolo}


def read_topic(cfg: Config, topic: str, since: datetime) -> list:
    """Every message produced at or after ``since``, read to the end of each partition.

    Reads to partition EOF rather than to the high watermark: tansu counts record batches, not
    records, in its watermark, so a watermark undercounts a topic written in batches.
    """
    c = Consumer({**cfg.kafka.client_config(), "group.id": "alpr-demo", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    since_ms = int(since.timestamp() * 1000)
    out, at_end = [], set()
    deadline = time.monotonic() + 30
    while len(at_end) < len(parts) and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            at_end.add(m.partition())
        elif m.timestamp()[1] >= since_ms:
            out.append(m)
    c.close()
    return out


def _demo_account(cfg: Config, password: str, enabled: bool) -> None:
    """Create (or disable) the console's demo dispatcher, audited as the demo's doing."""
    access = Access(cfg, db.connect(cfg), redis.Redis.from_url(cfg.redis.url))
    db.migrate(access.client, cfg)
    today = date.today()
    user = access.users.get(DEMO_USER) or User(DEMO_USER, "Demo dispatcher", "ALPR demo", roles.DISPATCHER)
    if enabled:
        user = replace(user, role=roles.DISPATCHER, disabled=False, locked=False, trained_at=today,
                       certified_until=today + timedelta(days=1), policy_reviewed_at=today,
                       password_hash=passwords.hash_password(password))
    access.users.put(replace(user, disabled=not enabled))
    if not enabled:
        access.sessions.end_all(DEMO_USER)
    access.audit.write(AuditRecord(username="alpr-demo", action="manage_users", outcome="allowed",
                                   client_ip="127.0.0.1", origin=f"cli demo uid={os.getuid()}",
                                   terms={"command": "demo", "username": DEMO_USER,
                                          "change": "enable for the demo" if enabled else "disable"}))


def _in_child(fn: Callable, *args) -> None:
    """Run ``fn`` in a fresh process: it opens the embedded database and lets go of it on exit."""
    proc = multiprocessing.get_context("spawn").Process(target=fn, args=args)
    proc.start()
    proc.join(120)
    if proc.exitcode != 0:
        raise RuntimeError("could not prepare the demo's console account")


def _start_flow(cfg: Config, log_path) -> subprocess.Popen:
    env = dict(os.environ, ALPR_DATA_DIR=cfg.data_dir, ALPR_FLOW__GROUP_IDLE_S=str(cfg.flow.group_idle_s),
               ALPR_FLOW__RECOVERY_DIR="off", ALPR_API__PORT=str(cfg.api.port))  # a demo starts afresh
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "alpr", "run", "--serve"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _console_up(cfg: Config) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{cfg.api.port}/v1/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run(cfg: Config, seconds: float, say: Callable[[str], None], keep_stack: bool = False) -> dict:
    """Run the whole demo and return its summary; stop the stack afterwards if the demo started it."""
    started_stack = not any(s["pid"] for s in stack.status(cfg))
    for line in stack.up(cfg):
        say(line)
    try:
        return _run(cfg, seconds, say)
    finally:
        if started_stack and not keep_stack:
            for line in stack.down(cfg):
                say(line)


def _run(cfg: Config, seconds: float, say: Callable[[str], None]) -> dict:
    # a camera quiet for 5 s has its passes stored, so the demo can end soon after the simulator
    cfg = replace(cfg, flow=replace(cfg.flow, group_idle_s=min(cfg.flow.group_idle_s, 5.0)))
    kafka.ensure_topics(cfg)
    if not cfg.hotlist_key_path.exists() and not os.environ.get("ALPR_HOTLIST_KEY"):
        generate_key_file(cfg.hotlist_key_path)
        say(f"created hot-list key {cfg.hotlist_key_path} (mode 0600)")
    store = HotlistStore(redis.Redis.from_url(cfg.redis.url), Keyring.load(cfg.hotlist_key_path))
    sim = Simulator(cfg.simulator, pool_size=40)
    listed = load_demo_hotlists(store, sim, random.Random(cfg.simulator.seed))
    say("hot lists loaded: " + ", ".join(f"{k} ({v['entries']} entries)" for k, v in store.lists().items()))

    log_path = cfg.data_path / "logs" / "demo-flow.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if stack.port_in_use("127.0.0.1", cfg.api.port):  # another API holds the port: the console goes elsewhere
        cfg = replace(cfg, api=replace(cfg.api, host="127.0.0.1", port=stack.free_port()))
    password = secrets.token_urlsafe(18)
    _in_child(_demo_account, cfg, password, True)
    flow = _start_flow(cfg, log_path)
    console_url = f"http://127.0.0.1:{cfg.api.port}/console"
    try:
        say(f"starting read flow and console (log {log_path}) ...")
        deadline = time.monotonic() + 180
        while metrics.flow_counters(cfg.flow.metrics_port) is None or not _console_up(cfg):
            if flow.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the read flow did not start; see {log_path}")
            time.sleep(0.5)
        say(f"dispatch console: {console_url}  (log on as {DEMO_USER}, password {password}; "
            "the account is disabled when the demo ends)")

        run_start = datetime.now(timezone.utc)
        publisher = FramePublisher(cfg)
        # One malformed message, to show it reaches the dead-letter topic and the flow keeps going.
        publisher.publish_raw(b"fixed-01", b"this is not a JPEG", [("camera_id", b"fixed-01")])
        truth: dict[str, tuple[str, tuple[str, ...]]] = {}
        frames_iter = sim.frames(realtime=True)
        end_at, next_report = time.monotonic() + seconds, time.monotonic() + 5
        while time.monotonic() < end_at:
            f = next(frames_iter)
            publisher.publish(f.meta, encode_jpeg(f.image, 88))
            truth[f.meta.frame_id] = (f.meta.camera_id, f.meta.true_plates or ())
            if time.monotonic() >= next_report:
                m = metrics.flow_counters(cfg.flow.metrics_port) or {}
                say(f"[{seconds - (end_at - time.monotonic()):4.0f}s] frames sent {len(truth)}, "
                    f"processed {m.get('alpr_frames_total', 0):.0f}, reads {m.get('alpr_reads_total', 0):.0f}, "
                    f"hits {m.get('alpr_hits_total', 0):.0f}")
                next_report += 5
        publisher.flush()
        sent = len(truth)
        say(f"simulator stopped after {sent} frames; waiting for the flow to finish them ...")
        drain_deadline = time.monotonic() + max(60.0, seconds)
        previous: dict[str, float] = {}
        next_report = time.monotonic() + 5
        while time.monotonic() < drain_deadline:
            m = metrics.flow_counters(cfg.flow.metrics_port) or {}
            done = m.get("alpr_frames_total", 0) >= sent and m.get("alpr_dead_letters_total", 0) >= 1
            if done and m == previous:  # every frame read and nothing moved for a second
                break
            if time.monotonic() >= next_report:
                say(f"[drain] processed {m.get('alpr_frames_total', 0):.0f} of {sent} frames, "
                    f"reads {m.get('alpr_reads_total', 0):.0f}, hits {m.get('alpr_hits_total', 0):.0f}")
                next_report += 5
            previous = m
            time.sleep(1)
        say("waiting for the last vehicle passes to close ...")
        time.sleep(cfg.flow.group_idle_s + 2)  # a quiet camera's open passes are stored after group_idle_s
    finally:
        _stop(flow)

    hits = [json.loads(m.value()) for m in read_topic(cfg, cfg.kafka.hits_topic, run_start)]
    dead = read_topic(cfg, cfg.kafka.dead_letter_topic, run_start)
    _demo_account(cfg, "", False)
    client = db.connect(cfg)
    frame_ids = list(truth)
    rows = client.query(
        f"SELECT i.frame_id, r.plate FROM {cfg.clickhouse.database}.reads AS r FINAL "
        f"JOIN {cfg.clickhouse.database}.read_images AS i USING read_id WHERE has(%(ids)s, i.frame_id)",
        parameters={"ids": frame_ids},
    ).result_rows
    sql = EXAMPLE_SQL.format(db=cfg.clickhouse.database)
    example = client.query(sql, parameters={"since": run_start})
    listed_seen = {p for _, ps in truth.values() for p in ps} & set(listed["stolen"] + listed["bolo"])
    summary = {
        "console_url": console_url,
        "frames": sent,
        "reads": len(rows),
        "hits": len(hits),
        "listed_plates_shown": len(listed_seen),
        "hit_plates": sorted({h["plate"] for h in hits}),
        "dead_letters": len(dead),
        "dead_letter_reasons": dict(Counter(dict(m.headers() or []).get("dlq_reason", b"?").decode() for m in dead)),
        **pass_scores(truth, rows),
        "example_sql": sql.replace("%(since)s", f"'{run_start:%Y-%m-%d %H:%M:%S}'"),
        "example_result": [dict(zip(example.column_names, map(str, r))) for r in example.result_rows],
    }
    return summary


def format_summary(s: dict) -> str:
    lines = [
        "",
        "ALPR demo results",
        f"  frames published      {s['frames']}",
        f"  vehicle passes stored {s['reads']}  (one read per vehicle and camera pass)",
        f"  read accuracy         {s['read_accuracy']:.1%} of {s['plates_shown']} passes shown were stored with the exact plate",
        f"  read precision        {s['read_precision']:.1%} of stored passes equal a plate in their best frame",
        *(f"    stored {w['stored']} where the best frame showed {' '.join(w['shown']) or 'no plate'}"
          for w in s["misread_passes"]),
        f"  hits to dispatch      {s['hits']}  (listed plates that drove past a camera: {s['listed_plates_shown']})",
        f"  dead letters          {s['dead_letters']}  {s['dead_letter_reasons']}",
        "",
        "Example SQL:",
        "  " + s["example_sql"].replace("\n", "\n  "),
        "",
    ]
    if s["example_result"]:
        cols = list(s["example_result"][0])
        widths = [max(len(c), *(len(r[c]) for r in s["example_result"])) for c in cols]
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths)))
        for r in s["example_result"]:
            lines.append("  " + "  ".join(r[c].ljust(w) for c, w in zip(cols, widths)))
    return "\n".join(lines)

