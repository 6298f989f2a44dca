"""Session services for the tests: a real tansu broker and a real Redis server, started through
``alpr.dev.stack`` on free ports, and one chDB directory (chDB allows one path per process)."""

from __future__ import annotations

import io
import os
import sys
import uuid
from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from alpr import config as config_mod
from alpr.config import Config
from alpr.crypto import Keyring, generate_key_file
from alpr.dev import stack
from alpr.dev.stack import free_port

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple-91"  # a password the policy accepts, for test users
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def make_config(data_dir: Path, kafka_port: int, redis_port: int) -> Config:
    return config_mod.load(
        environ={
            "ALPR_DATA_DIR": str(data_dir),
            "ALPR_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
            "ALPR_REDIS__URL": f"redis://127.0.0.1:{redis_port}/0",
            "ALPR_FLOW__METRICS_PORT": str(free_port()),
        }
    )


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("alpr")


@pytest.fixture(scope="session")
def services(session_dir: Path):
    """The base configuration of a running local stack (Kafka + Redis)."""
    cfg = make_config(session_dir, free_port(), free_port())
    stack.up(cfg)
    yield cfg
    stack.down(cfg)


@pytest.fixture
def cfg(services: Config) -> Config:
    """A configuration of its own per test: fresh topics, database and Redis contents."""
    tag = uuid.uuid4().hex[:8]
    c = config_mod.load(
        environ={
            "ALPR_DATA_DIR": services.data_dir,
            "ALPR_KAFKA__BOOTSTRAP_SERVERS": services.kafka.bootstrap_servers,
            "ALPR_REDIS__URL": services.redis.url,
            "ALPR_KAFKA__FRAMES_TOPIC": f"frames-{tag}",
            "ALPR_KAFKA__HITS_TOPIC": f"hits-{tag}",
            "ALPR_KAFKA__DEAD_LETTER_TOPIC": f"dlq-{tag}",
            "ALPR_KAFKA__HIT_STEPS_TOPIC": f"steps-{tag}",
            "ALPR_CLICKHOUSE__DATABASE": f"t_{tag}",
            "ALPR_FLOW__METRICS_PORT": str(free_port()),
        }
    )
    redis.Redis.from_url(c.redis.url).flushdb()
    return c


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    path = tmp_path / "hotlist.key"
    generate_key_file(path)
    return Keyring.load(path, environ={})


@pytest.fixture(scope="session")
def reader():
    from detectors.ppocr import PPOCRReader

    defaults = config_mod.Config().reader
    return PPOCRReader(defaults.det_max_side, defaults.min_confidence, threads=os.cpu_count() or 1,
                       second_recognizer=defaults.second_recognizer or None, runtime=defaults.runtime)


@pytest.fixture(scope="session")
def openalpr_us() -> Path:
    path = SHARED_DATASETS / "openalpr-benchmarks" / "endtoend" / "us"
    if not path.is_dir():
        pytest.skip(f"real plate benchmark not present at {path} (see DEVELOPERS.md)")
    return path


def logged_on(cfg: Config, username: str = "ofc.test", role: str = "officer", unit: str = "") -> str:
    """A session token for a trained, certified user of the given role and unit (created if missing)."""
    from datetime import date, timedelta

    from alpr.access.gate import Access
    from alpr.domain import passwords
    from alpr.store import db
    from alpr.store.users import User

    client = db.connect(cfg)
    db.migrate(client, cfg)
    access = Access(cfg, client, redis.Redis.from_url(cfg.redis.url))
    password = "test-passphrase-for-" + username
    today = date.today()
    if access.users.get(username) is None:
        access.users.put(User(username, username, "City PD", role, unit=unit, password_hash=passwords.hash_password(password),
                              trained_at=today, certified_until=today + timedelta(days=30), policy_reviewed_at=today))
    return access.logon(username, password, "127.0.0.1")


def consume_all(cfg: Config, topic: str) -> list:
    """Every message on a topic, read to the end of each partition (not to the watermark: tansu's
    high watermark counts record batches, not records)."""
    c = Consumer({**cfg.kafka.client_config(), "group.id": f"test-{uuid.uuid4().hex}", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out, eof = [], set()
    while len(eof) < len(parts):
        m = c.poll(5)
        assert m is not None, f"timed out reading {topic}"
        if m.error():
            eof.add(m.partition())
        else:
            out.append(m)
    c.close()
    return out


@pytest.fixture
def cli(cfg, monkeypatch, tmp_path):
    """Run `alpr ...` in this process against the test's services, as a given user (a session each);
    returns the exit code. ``cli.login(user)`` logs on through the CLI."""
    from alpr.app.access_cli import _token_file
    from alpr.app.cli import main

    for key, value in {"ALPR_DATA_DIR": cfg.data_dir, "ALPR_REDIS__URL": cfg.redis.url,
                       "ALPR_KAFKA__BOOTSTRAP_SERVERS": cfg.kafka.bootstrap_servers,
                       "ALPR_CLICKHOUSE__DATABASE": cfg.clickhouse.database}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    tokens: dict[str, str] = {}

    def run(*argv: str, user: str | None = None, stdin: str = "") -> int:
        monkeypatch.setenv("ALPR_SESSION", tokens[user] if user else "no-session")
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return main(list(argv))

    def login(user: str, password: str = PASSWORD) -> int:
        rc = run("login", user, "--password-stdin", stdin=password + "\n")
        if rc == 0:
            tokens[user] = _token_file(cfg).read_text()
        return rc

    run.login = login
    return run


def pytest_collection_modifyitems(items):
    """Every test is ``unit`` (no service) unless its module says ``integration`` (real Kafka, Redis,
    ClickHouse, processes): ``pytest -m unit`` runs in seconds."""
    for item in items:
        if item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.unit)
