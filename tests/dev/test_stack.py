import hashlib
import re
import socket
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from alpr import config
from alpr.access.sessions import Sessions
from alpr.dev import stack
from alpr.domain.types import NewEntry
from alpr.hotlists.store import HotlistStore
from alpr.messages.kafka import broker_ready
from tests.conftest import free_port, make_config

pytestmark = pytest.mark.integration


def test_session_stack_is_healthy(services):
    rows = {r["service"]: r for r in stack.status(services)}
    assert rows["kafka"]["healthy"] and rows["kafka"]["pid"]
    assert rows["redis"]["healthy"] and rows["redis"]["pid"]
    assert broker_ready(services)
    assert redis.Redis.from_url(services.redis.url).ping()
    with pytest.raises(redis.AuthenticationError):  # the session's Redis has a password too
        redis.Redis(port=urlsplit(services.redis.url).port).ping()
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


def test_local_redis_requires_a_password_kept_off_the_command_line(tmp_path):
    cfg = make_config(tmp_path, free_port(), free_port())
    bare = cfg.redis.url
    try:
        stack.up(cfg)
        password = (tmp_path / "keys" / "redis.password").read_text().strip()
        assert stat.S_IMODE((tmp_path / "keys" / "redis.password").stat().st_mode) == 0o600
        assert len(password) >= 40 and password in cfg.redis.url  # up hands its cfg the password
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(bare).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(bare.replace("://", "://:wrong-password@")).ping()
        # every client that loads the configuration for this data directory gets it
        loaded = config.load(environ={"ALPR_DATA_DIR": str(tmp_path), "ALPR_REDIS__URL": bare})
        assert redis.Redis.from_url(loaded.redis.url).ping()
        assert password not in str(config.as_masked_dict(loaded)) and ":****@" in config.as_masked_dict(loaded)["redis"]["url"]
        [pid] = [r["pid"] for r in stack.status(cfg) if r["service"] == "redis"]
        assert password.encode() not in open(f"/proc/{pid}/cmdline", "rb").read()
        # a Redis for another data directory, without a password file, is left as named
        other = config.load(environ={"ALPR_DATA_DIR": str(tmp_path / "other"), "ALPR_REDIS__URL": bare})
        assert other.redis.url == bare
        # a restart keeps the password, so running clients stay connected after reconnecting
        stack.down(cfg, only={"redis"})
        cfg.redis.url = bare
        stack.up(cfg)
        assert redis.Redis.from_url(loaded.redis.url).ping()
    finally:
        stack.down(cfg)


def test_the_documented_acl_users_work_and_the_flow_cannot_write(tmp_path, keyring):
    doc = (Path(__file__).resolve().parents[2] / "infra" / "redis" / "README.md").read_text()
    [acl] = re.findall(r"```acl\n(.*?)```", doc, re.S)
    sha = {name: hashlib.sha256(f"{name}-password".encode()).hexdigest() for name in ("flow", "hotlist")}
    (tmp_path / "users.acl").write_text(acl.replace("<sha256 of the flow's password>", sha["flow"])
                                        .replace("<sha256 of the management password>", sha["hotlist"]))
    port = free_port()
    server = subprocess.Popen([str(stack.redis_binary()), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--dir", str(tmp_path), "--aclfile", str(tmp_path / "users.acl")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        manager = redis.Redis.from_url(f"redis://alpr-hotlist:hotlist-password@127.0.0.1:{port}/0")
        for _ in range(100):
            try:
                manager.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        flow = redis.Redis.from_url(f"redis://alpr-flow:flow-password@127.0.0.1:{port}/0")
        edit = HotlistStore(manager, keyring)
        edit.replace("stolen", [NewEntry("ABC123", {"case": "C1"}), NewEntry("7?K*", {"case": "C2"})], by="adm")
        edit.skip(["000"], by="adm")
        edit.remove("stolen", "NOPE1")
        Sessions(manager, config.Config().policy, namespace="alpr:alpr").start("adm", "127.0.0.1")
        found = HotlistStore(flow).match(["ABC123", "7XK11", "000"])
        assert sorted(found) == ["7XK11", "ABC123"]
        for write in (lambda: flow.sadd("alpr:skiplist", "ABC123"), lambda: flow.hdel("alpr:hotlist:stolen", "A8C123"),
                      lambda: flow.eval("return redis.call('SADD', KEYS[1], 'ABC123')", 1, "alpr:skiplist"),
                      lambda: flow.get("alpr:alpr:session:x"), lambda: manager.flushall()):
            with pytest.raises(redis.ResponseError, match="(?i)no permissions|can't run this command"):
                write()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()  # the default user is off
        assert HotlistStore(flow).match(["ABC123"])  # still matched: nothing was skipped
    finally:
        server.kill()
        server.wait(10)
