"""Scaling out: the read flow as a Bytewax cluster of two processes (``alpr run -i/-a``) and as one
process with two workers (``-w 2``) reads the same frames to the same reads and hits as one worker.

Bytewax's worker threads used to die in CPython's thread-state teardown, and chDB's fatal-signal
handler turned the crash into a hang after a few frames (``flows.steps.pin_thread_state``). Each
process has its own data directory (chDB allows one process per database); the cluster stores its
passes through one sink partition, so the two databases together hold what one worker stores.
"""

import subprocess
import sys
import time
from collections import Counter

import pytest

from alpr.dev.stack import free_port
from tests.conftest import consume_all
from tests.flows.test_crash_recovery import flow_env, list_every_plate, stored
from tests.flows.test_read_flow import produced  # noqa: F401 - 36 frames + 2 bad messages

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def run(envs: list[dict], *extra: list[str]) -> None:
    """One `alpr run` per environment (with its own extra arguments), all to the end of the stream."""
    procs = [subprocess.Popen([sys.executable, "-m", "alpr", "run", *args], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for env, args in zip(envs, extra)]
    try:
        deadline = time.monotonic() + 600
        while any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "the flow did not finish: hung?"
            time.sleep(0.2)
        for p in procs:
            assert p.returncode == 0, p.stderr.read().decode()[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def merged(*envs: dict) -> dict:
    parts = [stored(env) for env in envs]
    return {"reads": sorted(r for p in parts for r in p["reads"]), "hits": sorted(h for p in parts for h in p["hits"]),
            "images": sum(p["images"] for p in parts)}


def messages(cfg, env: dict, topic: str) -> list[bytes]:
    out = consume_all(cfg, env[f"ALPR_KAFKA__{topic}_TOPIC"])
    ids = Counter(dict(m.headers()).get("hit_id") or dict(m.headers())["dlq_source"] for m in out)
    assert set(ids.values()) <= {1}, f"{topic} sent twice: {[k for k, n in ids.items() if n > 1]}"
    return sorted(m.value() for m in out)


def test_two_processes_and_two_workers_read_what_one_worker_reads(cfg, produced, tmp_path):  # noqa: F811
    list_every_plate(cfg, produced, tmp_path)

    def env(name: str, **over: str) -> dict:
        return {**flow_env(cfg, tmp_path, name), "ALPR_FLOW__RECOVERY_DIR": "off", **over}

    one = env("one")
    run([one], [])
    expected = merged(one)
    assert len(expected["reads"]) >= 5 and expected["hits"]

    two_workers = env("workers")
    run([two_workers], ["-w", "2"])

    port, addresses = free_port(), f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    cluster = [env("cluster-0", ALPR_FLOW__METRICS_PORT=str(port)), env("cluster-1", ALPR_FLOW__METRICS_PORT=str(port))]
    for e in cluster[1:]:  # one flow: the same output topics
        e.update({k: cluster[0][k] for k in ("ALPR_KAFKA__HITS_TOPIC", "ALPR_KAFKA__DEAD_LETTER_TOPIC")})
    run(cluster, ["-i", "0", "-a", addresses], ["-i", "1", "-a", addresses])

    for got in (merged(two_workers), merged(*cluster)):
        assert got["reads"] == expected["reads"] and got["hits"] == expected["hits"]
        assert got["images"] == expected["images"] == len(expected["reads"])
    for topic in ("HITS", "DEAD_LETTER"):
        reference = messages(cfg, one, topic)
        assert messages(cfg, two_workers, topic) == reference
        assert messages(cfg, cluster[0], topic) == reference
