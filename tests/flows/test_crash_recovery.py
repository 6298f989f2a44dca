"""Exactly-once effect: the flow is killed with SIGKILL mid-stream and restarted from its Bytewax
snapshot; ClickHouse and the hits and dead-letter topics must then hold exactly what an
uninterrupted run produces: nothing lost, nothing twice.

Each run is `alpr run` in its own process with its own data directory (chDB allows one process per
database), so the stored rows are read back through a short child process too.
"""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from alpr import metrics
from alpr.crypto import Keyring, generate_key_file
from alpr.dev.stack import free_port
from alpr.domain.types import NewEntry
from alpr.hotlists.store import HotlistStore
from tests.conftest import consume_all
from tests.flows.test_read_flow import produced  # noqa: F401 - the same 36 frames + 2 bad messages

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DUMP = """
import json, sys
from alpr import config
from alpr.store import db
cfg = config.load()
c = db.connect(cfg)
d = cfg.clickhouse.database
rows = c.query(f"SELECT read_id, plate, frames, camera_id FROM {d}.reads FINAL ORDER BY read_id").result_rows
images = c.command(f"SELECT count() FROM {d}.read_images FINAL")
hits = c.query(f"SELECT hit_id FROM {d}.hits FINAL ORDER BY hit_id").result_rows
print(json.dumps({"reads": rows, "images": images, "hits": [h[0] for h in hits],
                  "unique": c.command(f"SELECT uniqExact(read_id) = count() FROM {d}.reads FINAL")}))
"""


def frames_done(port: int) -> float:
    return (metrics.flow_counters(port) or {}).get("alpr_frames_total", 0.0)


def snapshot_committed(env: dict) -> bool:
    """Whether Bytewax has committed a recovery snapshot (its SQLite store) that a restart resumes from."""
    for part in Path(env["ALPR_DATA_DIR"], "recovery").glob("*.sqlite3"):
        with contextlib.closing(sqlite3.connect(part)) as db:
            try:
                if db.execute("SELECT count(*) FROM commits").fetchone()[0]:
                    return True
            except sqlite3.OperationalError:  # the store is still being created
                pass
    return False


def run_flow(env: dict, kill_after_frames: int | None = None) -> float:
    """`alpr run` to the end of the stream, or SIGKILLed once it has read this many frames and
    committed a snapshot; returns the most frames the run was seen to read."""
    proc = subprocess.Popen([sys.executable, "-m", "alpr", "run"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port, seen = int(env["ALPR_FLOW__METRICS_PORT"]), 0.0
    try:
        deadline = time.monotonic() + 600
        while proc.poll() is None:
            seen = max(seen, frames_done(port))
            if kill_after_frames is not None and seen >= kill_after_frames and snapshot_committed(env):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
                return seen
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert kill_after_frames is None, "the flow ended before it could be killed"
        assert proc.returncode == 0, proc.stderr.read().decode()[-3000:]
        return seen
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def stored(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", DUMP], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def flow_env(cfg, tmp: Path, name: str) -> dict:
    return {**os.environ, "ALPR_DATA_DIR": str(tmp / name), "ALPR_KAFKA__BOOTSTRAP_SERVERS": cfg.kafka.bootstrap_servers,
            "ALPR_REDIS__URL": cfg.redis.url, "ALPR_KAFKA__FRAMES_TOPIC": cfg.kafka.frames_topic,
            "ALPR_KAFKA__HITS_TOPIC": f"{cfg.kafka.hits_topic}-{name}",
            "ALPR_KAFKA__DEAD_LETTER_TOPIC": f"{cfg.kafka.dead_letter_topic}-{name}",
            "ALPR_FLOW__METRICS_PORT": str(free_port()), "ALPR_FLOW__TAIL": "0", "ALPR_FLOW__SNAPSHOT_INTERVAL_S": "1",
            # passes close on event time and at the end of the stream only, never on a wall-clock pause,
            # so the uninterrupted run is a fixed reference
            "ALPR_FLOW__GROUP_IDLE_S": "3600", "ALPR_HOTLIST__KEY_FILE": str(tmp / "hotlist.key"),
            "ALPR_READER__INTRA_OP_THREADS": "1"}


def list_every_plate(cfg, frames: list, tmp_path: Path) -> None:
    """Every simulated plate on the hot list, under the key file the flows of ``flow_env`` read."""
    key = tmp_path / "hotlist.key"
    generate_key_file(key)
    listed = sorted({p for m in frames for p in m.true_plates or ()})
    HotlistStore(redis.Redis.from_url(cfg.redis.url), Keyring.load(key, environ={})).replace(
        "stolen", [NewEntry(p, {"case": f"C-{i}"}) for i, p in enumerate(listed)])


def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(cfg, produced, tmp_path):  # noqa: F811
    list_every_plate(cfg, produced, tmp_path)

    reference_env = flow_env(cfg, tmp_path, "reference")
    run_flow(reference_env)
    expected = stored(reference_env)
    assert len(expected["reads"]) >= 5 and expected["hits"]

    crash_env = flow_env(cfg, tmp_path, "crash")
    before = run_flow(crash_env, kill_after_frames=len(produced) // 2)
    time.sleep(1.5)  # the killed process's last snapshot is at most snapshot_interval_s old
    after = run_flow(crash_env)  # resumes from the last snapshot and replays what came after it
    assert before >= len(produced) // 2 and 0 < after < len(produced), "the restart should resume, not start over"
    got = stored(crash_env)

    assert got["reads"] == expected["reads"] and got["unique"] == 1
    assert got["images"] == expected["images"] == len(expected["reads"])
    assert got["hits"] == expected["hits"]
    for topic in ("hits", "dead-letter"):
        ref = [m for m in consume_all(cfg, reference_env[f"ALPR_KAFKA__{'HITS' if topic == 'hits' else 'DEAD_LETTER'}_TOPIC"])]
        out = [m for m in consume_all(cfg, crash_env[f"ALPR_KAFKA__{'HITS' if topic == 'hits' else 'DEAD_LETTER'}_TOPIC"])]
        ids = Counter(dict(m.headers()).get("hit_id") or dict(m.headers())["dlq_source"] for m in out)
        assert set(ids.values()) == {1}, f"{topic}: sent twice: {[k for k, n in ids.items() if n > 1]}"
        assert sorted(m.value() for m in out) == sorted(m.value() for m in ref)
