import socket
import subprocess

import pytest
import redis

from alpr import stack
from alpr.kafka import broker_ready
from tests.conftest import free_port, make_config


def test_session_stack_is_healthy(services):
    rows = {r["service"]: r for r in stack.status(services)}
    assert rows["kafka"]["healthy"] and rows["kafka"]["pid"]
    assert rows["redis"]["healthy"] and rows["redis"]["pid"]
    assert broker_ready(services)
    assert redis.Redis.from_url(services.redis.url).ping()
    # up again is a no-op that reports the running services
    assert all("already running" in line for line in stack.up(services))


def test_port_taken_is_a_clear_error(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        cfg = make_config(tmp_path, port, free_port())
        with pytest.raises(stack.StackError, match=rf"port {port} .*already in use.*kafka.bootstrap_servers"):
            stack.up(cfg)


def test_missing_binary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on this PATH
    cfg = make_config(tmp_path, free_port(), free_port())
    with pytest.raises(stack.StackError, match="apt-get install -y redis-server"):
        stack.redis_binary()
    assert cfg


def test_down_stops_only_what_up_started(tmp_path):
    cfg = make_config(tmp_path, free_port(), free_port())
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        run = tmp_path / "run"
        run.mkdir(parents=True)
        (run / "redis.pid").write_text(f"{stranger.pid}\n")  # a stale pid file naming someone else
        stack.up(cfg)
        assert all(r["healthy"] for r in stack.status(cfg))
        lines = stack.down(cfg)
        assert any(line.startswith("kafka: stopped") for line in lines)
        assert not broker_ready(cfg, 1.0)
        assert stranger.poll() is None  # the stranger survived
        assert stack.down(cfg) == ["kafka: not running (started by alpr)", "redis: not running (started by alpr)"]
    finally:
        stranger.kill()
        stack.down(cfg)


def test_external_endpoints_are_left_alone(tmp_path):
    from alpr import config

    cfg = config.load(environ={"ALPR_DATA_DIR": str(tmp_path), "ALPR_KAFKA__BOOTSTRAP_SERVERS": "kafka.internal:9092",
                               "ALPR_REDIS__URL": "rediss://cache.internal:6380/0"})
    lines = stack.up(cfg, timeout_s=1)
    assert [line.split(" at ")[0] for line in lines] == ["kafka: external", "redis: external"]
