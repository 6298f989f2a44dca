"""Operations view against the real thing: promtool, a live Prometheus scraping a running flow and a
running API, and every dashboard query run against Prometheus or chDB."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from alpr import config as config_mod
from alpr.config import SimulatorConfig
from alpr.crypto import Keyring, generate_key_file
from alpr.dev import stack
from alpr.dev.simulator.traffic import Simulator
from alpr.dev.stack import free_port
from alpr.domain.types import Box, FrameMeta, Location, NewEntry, PlateRead
from alpr.hotlists.store import HotlistStore
from alpr.messages.frames import encode_jpeg
from alpr.messages.publish import FramePublisher
from alpr.store import db
from alpr.store.audit import AuditLog, AuditRecord, KeySource
from dashboards.build import DASHBOARDS, OUT_DIR, queries, render
from sinks.clickhouse import READS

pytestmark = pytest.mark.integration

PROM_DIR = Path(__file__).resolve().parents[2] / "infra" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (scripts/setup.sh installs Debian's prometheus)")
    return subprocess.run([tool, *args], capture_output=True, text=True, cwd=PROM_DIR, timeout=120)


@pytest.mark.parametrize("args", [("check", "config", "prometheus.yml"), ("check", "rules", "alerts.yml"),
                                  ("test", "rules", "alerts_test.yml")])
def test_promtool(args):
    result = promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_local_prometheus_config_is_valid(cfg, tmp_path):
    conf = tmp_path / "prometheus.yml"
    conf.write_text(stack.prometheus_config(cfg))
    result = promtool("check", "config", str(conf))
    assert result.returncode == 0, result.stdout + result.stderr


def test_committed_dashboards_are_generated_from_code():
    rendered = render()
    assert set(rendered) == {f"{uid}.json" for uid in DASHBOARDS}
    for name, text in rendered.items():
        assert (OUT_DIR / name).read_text() == text, f"dashboards/{name} is stale: run python -m dashboards.build"


def clickhouse_sql(sql: str, database: str) -> str:
    """A panel's SQL as Grafana's ClickHouse plugin would send it for the last 30 days."""
    sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 >= now() - INTERVAL 30 DAY AND \1 <= now64(3)", sql)
    return sql.replace("FROM alpr.", f"FROM {database}.")


def test_clickhouse_panels_return_rows(cfg):
    client = db.connect(cfg)
    db.migrate(client, cfg)
    now = datetime.now(timezone.utc)
    rows = []
    for i in range(6):
        frame = FrameMeta(f"cam-{i % 2}", f"f{i}", now - timedelta(hours=i), Location(40.7, -74.0))
        rows.append(READS.row(PlateRead(f"{i:032x}", frame, "ABC1234", 0.9, Box(1, 1, 40, 12), b"\xff\xd8", "test")))
    client.insert(f"{cfg.clickhouse.database}.reads", rows, column_names=READS.columns)
    client.command(f"ALTER TABLE {cfg.clickhouse.database}.reads UPDATE hold = 1 WHERE read_id = '{0:032x}'"
                   " SETTINGS mutations_sync = 2")
    audit = AuditLog(client, cfg.clickhouse.database, redis.Redis.from_url(cfg.redis.url),
                     KeySource(cfg.audit_key_path, create=True))
    for outcome, purpose in (("allowed", "patrol"), ("denied", "")):
        audit.write(AuditRecord(username="ofc.a", action="search_reads", outcome=outcome, purpose=purpose,
                                reason="" if purpose else "a purpose is required", plates=("ABC1234",)))
    panels = [(title, q) for text in render().values() for title, uid, q in queries(text) if uid == "clickhouse"]
    assert len(panels) >= 4
    for title, sql in panels:
        result = client.query(clickhouse_sql(sql, cfg.clickhouse.database)).result_rows
        assert result and all(v is not None for v in result[0]), f"panel {title!r} returned {result}"


def prom_query(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(urllib.request.urlopen(url, timeout=10).read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def flow_counter(port: int, name: str) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
    except OSError:
        return -1
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


# `alpr serve`, and in the same process a stand-in for dispatch consoles at work: hits fed to consoles, viewed and
# worked, recorded through alpr.metrics (the API's registry) every half second. What the console itself records is
# tested with the console; this shows the API's /metrics, scraped as job alpr-api, carries every series the
# Dispatch row queries. fixed-01 is confirmed, fixed-02 marked a misread, mobile-7 verified: ratios 0, 1, 0.
API_WITH_CONSOLE_TRAFFIC = """
import threading, time
from alpr import metrics
from alpr.app.cli import main

STEPS = {"fixed-01": ["confirm_not_misread", "broadcast", "record_clets_check", "broadcast_results", "close"],
         "fixed-02": ["mark_misread"], "mobile-7": ["verify_visually", "confirm_clets", "close"]}

def consoles():
    while True:
        for camera, actions in STEPS.items():
            metrics.HIT_FEED_DELAY.observe(0.04)
            metrics.HIT_TIME_TO_VIEW.observe(1.5)
            for i, action in enumerate(actions):
                metrics.HIT_TIME_TO_STEP.labels(action).observe(20 * (i + 1))
                metrics.HIT_STEPS.labels(action, camera, "stolen").inc()
        metrics.HITS_UNTAKEN.set(1)
        metrics.HIT_OLDEST_UNTAKEN.set(12)
        time.sleep(0.5)

threading.Thread(target=consoles, daemon=True).start()
raise SystemExit(main(["serve"]))
"""


def has_numbers(result: list) -> bool:
    return any(r["value"][1] not in ("NaN", "+Inf", "-Inf") for r in result)


@pytest.mark.slow
def test_prometheus_panels_have_data_from_a_running_flow_and_api(cfg, tmp_path):
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (scripts/setup.sh installs it)")
    # The flow runs in its own process with its own chDB; Kafka and Redis are the session's.
    env_cfg = {
        "ALPR_DATA_DIR": str(tmp_path / "flow"),
        "ALPR_KAFKA__BOOTSTRAP_SERVERS": cfg.kafka.bootstrap_servers,
        "ALPR_KAFKA__FRAMES_TOPIC": cfg.kafka.frames_topic,
        "ALPR_KAFKA__HITS_TOPIC": cfg.kafka.hits_topic,
        "ALPR_KAFKA__DEAD_LETTER_TOPIC": cfg.kafka.dead_letter_topic,
        "ALPR_REDIS__URL": cfg.redis.url,
        "ALPR_FLOW__METRICS_PORT": str(cfg.flow.metrics_port),
        "ALPR_MONITORING__PROMETHEUS_PORT": str(free_port()),
        "ALPR_MONITORING__SCRAPE_INTERVAL_S": "1",
        "ALPR_API__PORT": str(free_port()),
    }
    mon = config_mod.load(environ={**env_cfg, "ALPR_DATA_DIR": cfg.data_dir,
                                   "ALPR_MONITORING__PUBLISHER_METRICS_PORT": str(free_port())})
    stack.up(mon, monitoring=True)  # Kafka and Redis already run; this adds Prometheus
    flow = api = None
    try:
        # The API runs in its own process with its own chDB, as `alpr serve` does.
        api = subprocess.Popen(
            [sys.executable, "-c", API_WITH_CONSOLE_TRAFFIC],
            env={**os.environ, **env_cfg, "ALPR_DATA_DIR": str(tmp_path / "api")},
            stdout=open(tmp_path / "api.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        key = tmp_path / "k"
        generate_key_file(key)
        sim = Simulator(SimulatorConfig(seed=5, no_plate_ratio=0.0))
        frames = sim.frames(realtime=False, start=datetime.now(timezone.utc) - timedelta(seconds=30))
        batch = [next(frames) for _ in range(24)]
        HotlistStore(redis.Redis.from_url(cfg.redis.url), Keyring.load(key, environ={})).replace(
            "stolen", [NewEntry(p, {"case": "C"}) for p in {p for f in batch for p in f.meta.true_plates}])
        flow = subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", "flows.read_flow:build_from_env()"],
            env={**os.environ, **env_cfg}, stdout=open(tmp_path / "flow.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while flow_counter(cfg.flow.metrics_port, "alpr_clickhouse_rows_written_total") < 0:
            assert flow.poll() is None and time.monotonic() < deadline, (tmp_path / "flow.log").read_text()[-3000:]
            time.sleep(0.5)
        pub = FramePublisher(cfg)
        for f in batch:
            pub.publish(f.meta, encode_jpeg(f.image))
        pub.publish_raw(b"cam-x", b"not a jpeg", [("camera_id", b"cam-x")])
        pub.flush()
        while flow_counter(cfg.flow.metrics_port, "alpr_frames_total") < len(batch):
            assert flow.poll() is None and time.monotonic() < deadline, (tmp_path / "flow.log").read_text()[-3000:]
            time.sleep(0.5)
        while flow_counter(mon.api.port, "alpr_hit_steps_total") <= 0:
            assert api.poll() is None and time.monotonic() < deadline, (tmp_path / "api.log").read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(4)  # a few more scrapes after the last frame and the first console steps

        port = mon.monitoring.prometheus_port
        assert prom_query(port, 'up{job="alpr-flow"} == 1')
        assert prom_query(port, 'up{job="alpr-api"} == 1')
        rules = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=10).read())
        loaded = [r for g in rules["data"]["groups"] for r in g["rules"]]
        assert len(loaded) == 11 and all(r["health"] == "ok" for r in loaded)
        panels = [(title, q) for text in render().values() for title, uid, q in queries(text) if uid == "prometheus"]
        assert len(panels) >= 22

        def run(expr: str) -> list:
            return prom_query(port, expr.replace("$__rate_interval", "1m").replace("$__range", "1h"))

        empty = [title for title, expr in panels if not run(expr)]
        assert not empty, f"panels without data: {empty}"
        dispatch = [(title, expr) for title, expr in panels if re.search(r"alpr_hit_|alpr_hits_untaken", expr)]
        assert len(dispatch) == 8
        nan = [title for title, expr in dispatch if not has_numbers(run(expr))]
        assert not nan, f"dispatch panels without a number: {nan}"
        ratio = next(expr for title, expr in dispatch if title.startswith("Misread ratio") and "/" in expr)
        assert {r["metric"]["camera_id"]: float(r["value"][1]) for r in run(ratio)} == {
            "fixed-01": 0.0, "fixed-02": 1.0, "mobile-7": 0.0}
    finally:
        for proc in (flow, api):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stack.down(mon, only={"prometheus"})
