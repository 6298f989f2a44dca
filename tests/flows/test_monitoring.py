"""Operations view against the real thing: promtool, a live Prometheus scraping a running flow and a
running API, and every dashboard query run against Prometheus or chDB."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
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

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "infra" / "prometheus"


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


# `alpr serve` (the API with the dispatch console's live hit feed) in its own process with its own chDB; a
# dispatcher is set up first and their session token written to argv[1].
API_PROCESS = """
import sys
from pathlib import Path

from alpr import config
from alpr.app.cli import main
from tests.conftest import logged_on

Path(sys.argv[1]).write_text(logged_on(config.load(), "disp.console", "dispatcher"))
raise SystemExit(main(["serve"]))
"""
PURPOSE = "dispatch duty, monitoring test"


class Console:
    """A dispatcher's console: the live stream of hits (Server-Sent Events) read on a thread, and the calls
    the console page makes when it shows a hit and when the dispatcher takes a step."""

    def __init__(self, base: str, token: str):
        self.base, self.auth = base, {"Authorization": f"Bearer {token}"}
        self.hits: queue.Queue = queue.Queue()
        self.live = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        kind = ""
        try:
            with httpx.stream("GET", f"{self.base}/v1/hits/stream", params={"purpose": PURPOSE}, headers=self.auth,
                              timeout=httpx.Timeout(10, read=None)) as r:
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        kind = line[len("event: "):]
                    elif line.startswith("data: ") and kind == "hit":
                        self.hits.put(json.loads(line[len("data: "):]))
                    elif line.startswith("data: ") and kind == "live":
                        self.live.set()
        except httpx.HTTPError:  # the API process was stopped
            return

    def seen(self, hit_id: str) -> None:
        r = httpx.post(f"{self.base}/v1/hits/{hit_id}/seen", params={"purpose": PURPOSE}, headers=self.auth)
        assert r.status_code == 204, r.text

    def act(self, hit_id: str, action: str, **fields: str) -> None:
        r = httpx.post(f"{self.base}/v1/hits/{hit_id}/actions", headers=self.auth,
                       json={"action": action, "fields": fields, "purpose": PURPOSE})
        assert r.status_code == 201, r.text


def api_answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/v1/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


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
        "ALPR_KAFKA__HIT_STEPS_TOPIC": f"{cfg.kafka.hits_topic}-steps",
        "ALPR_API__PORT": str(free_port()),
    }
    mon = config_mod.load(environ={**env_cfg, "ALPR_DATA_DIR": cfg.data_dir,
                                   "ALPR_MONITORING__PUBLISHER_METRICS_PORT": str(free_port())})
    stack.up(mon, monitoring=True)  # Kafka and Redis already run; this adds Prometheus
    flow = api = None
    try:
        token_file = tmp_path / "token"
        api = subprocess.Popen(
            [sys.executable, "-c", API_PROCESS, str(token_file)], cwd=REPO,
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
        base = f"http://127.0.0.1:{mon.api.port}"
        while not token_file.exists() or not api_answers(base):
            assert api.poll() is None and time.monotonic() < deadline, (tmp_path / "api.log").read_text()[-3000:]
            time.sleep(0.5)
        console = Console(base, token_file.read_text())
        assert console.live.wait(30), (tmp_path / "api.log").read_text()[-3000:]  # hits from now on are live
        while not prom_query(mon.monitoring.prometheus_port, 'up{job="alpr-api"} == 1'):  # scraped before any hit
            assert time.monotonic() < deadline, "Prometheus has not scraped the API"
            time.sleep(0.5)
        pub = FramePublisher(cfg)
        for f in batch:
            pub.publish(f.meta, encode_jpeg(f.image))
        pub.publish_raw(b"cam-x", b"not a jpeg", [("camera_id", b"cam-x")])
        pub.flush()
        while flow_counter(cfg.flow.metrics_port, "alpr_frames_total") < len(batch):
            assert flow.poll() is None and time.monotonic() < deadline, (tmp_path / "flow.log").read_text()[-3000:]
            time.sleep(0.5)
        # The dispatcher confirms two hits of one fixed camera and marks two of another misread, in two rounds more
        # than a scrape apart (Prometheus counts a counter's increase, not its first appearance); the mobile units'
        # hits, for their officers, stay untaken.
        hits: list[dict] = []
        fixed: dict[str, list[str]] = {}
        while sum(len(ids) >= 2 for ids in fixed.values()) < 2:
            try:
                hits.append(console.hits.get(timeout=30))
            except queue.Empty:
                pytest.fail(f"too few fixed-site hits on the console to work: {fixed}")
            if hits[-1]["site"] == "fixed":
                fixed.setdefault(hits[-1]["camera_id"], []).append(hits[-1]["hit_id"])
        for h in hits:
            console.seen(h["hit_id"])
        (confirmed, c_hits), (misread, m_hits) = sorted(fixed.items(), key=lambda kv: -len(kv[1]))[:2]
        for i in range(2):
            console.act(c_hits[i], "confirm_not_misread")
            console.act(m_hits[i], "mark_misread", corrected_plate="ZZZ0000")
            time.sleep(2.5)
        console.act(c_hits[0], "broadcast", channel="TAC-2")
        time.sleep(4)  # a few more scrapes after the last frame and the last step

        port = mon.monitoring.prometheus_port
        assert prom_query(port, 'up{job="alpr-flow"} == 1')
        assert prom_query(port, 'up{job="alpr-api"} == 1')
        rules = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=10).read())
        loaded = [r for g in rules["data"]["groups"] for r in g["rules"]]
        assert len(loaded) == 14 and all(r["health"] == "ok" for r in loaded)
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
        assert {r["metric"]["camera_id"]: float(r["value"][1]) for r in run(ratio)} == {confirmed: 0.0, misread: 1.0}
        published = flow_counter(cfg.flow.metrics_port, "alpr_hits_total")
        assert float(run("max(alpr_hits_untaken)")[0]["value"][1]) == published - 4
        assert float(run("max(alpr_hit_oldest_untaken_seconds)")[0]["value"][1]) > 0
    finally:
        for proc in (flow, api):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stack.down(mon, only={"prometheus"})
