"""What a person sees when something is wrong: one line and a distinct exit code, never a traceback;
and the embedded database's files private to its owner."""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alpr.app.cli import main
from alpr.app.cli_util import Exit
from alpr.dev.stack import free_port
from tests.conftest import logged_on

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def alpr(data_dir: Path, *argv: str, env: dict[str, str] | None = None, timeout: float = 60,
         stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    """`alpr ARGV` in a process of its own, on a data directory no other process uses."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}
    base.update({"ALPR_DATA_DIR": str(data_dir), "ALPR_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
                 "ALPR_REDIS__URL": f"redis://127.0.0.1:{free_port()}/0", **(env or {})})
    return subprocess.run([sys.executable, "-m", "alpr", *argv], cwd=REPO, env=base, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def assert_one_line(proc: subprocess.CompletedProcess, code: Exit, *words: str) -> None:
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    last = err.splitlines()[-1] if err else ""
    for w in words:
        assert w in last, (w, proc.stderr)


def test_redis_down_and_wrong_redis_url(tmp_path):
    port = free_port()
    proc = alpr(tmp_path, "hotlist", "lists", env={"ALPR_REDIS__URL": f"redis://127.0.0.1:{port}/0"})
    assert_one_line(proc, Exit.REDIS_DOWN, "Redis unavailable", str(port))
    proc = alpr(tmp_path, "hotlist", "lists",
                env={"ALPR_REDIS__URL": "redis://:s3cret-pw@no-such-host.invalid:6379/0"})
    assert_one_line(proc, Exit.REDIS_DOWN, "no-such-host.invalid")
    assert "s3cret-pw" not in proc.stderr


def test_kafka_down(tmp_path):
    proc = alpr(tmp_path, "simulate", "--frames", "1", "--fast")
    assert_one_line(proc, Exit.KAFKA_DOWN, "Kafka unavailable at 127.0.0.1:")


def test_clickhouse_server_down(tmp_path):
    port = free_port()
    proc = alpr(tmp_path, "db", "migrate", env={"ALPR_CLICKHOUSE__URL": f"http://alpr:pw-123@127.0.0.1:{port}"})
    assert_one_line(proc, Exit.CLICKHOUSE_DOWN, "ClickHouse unavailable", str(port))
    assert "pw-123" not in proc.stderr


def test_embedded_database_held_by_another_process_names_it(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from alpr import config; from alpr.store import db; db.connect(config.load()); "
                               "print('ready', flush=True); time.sleep(60)"],
        cwd=REPO, env={**os.environ, "ALPR_DATA_DIR": str(tmp_path)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        proc = alpr(tmp_path, "db", "migrate")
        assert_one_line(proc, Exit.DATABASE_BUSY, f"pid {holder.pid}", "in use by")
        proc = alpr(tmp_path, "run")  # the flow would open it in Bytewax's runner: refused before handing over
        assert_one_line(proc, Exit.DATABASE_BUSY, f"pid {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert alpr(tmp_path, "db", "migrate").returncode == 0  # the lock goes with its process


def test_train_extra_missing(tmp_path):
    if all(importlib.util.find_spec(m) for m in ("torch", "onnx", "onnx2torch")):
        pytest.skip("the train extra is installed here")
    started = time.monotonic()
    proc = alpr(tmp_path, "train", "recognizer", "--out", str(tmp_path / "r.onnx"), "--crops", str(tmp_path))
    assert_one_line(proc, Exit.EXTRA_MISSING, "is not installed", ".[train]")
    assert time.monotonic() - started < 30  # refused before any data is read


def test_closed_output_pipe(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "alpr", "config", "show"], cwd=REPO,
                         env={**os.environ, "ALPR_DATA_DIR": str(tmp_path)}, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # the reader is gone before the command writes
    err = p.stderr.read()
    assert p.wait(timeout=60) == Exit.PIPE_CLOSED
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_hotlist_key_missing(cfg, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ALPR_DATA_DIR", cfg.data_dir)
    monkeypatch.setenv("ALPR_REDIS__URL", cfg.redis.url)
    monkeypatch.setenv("ALPR_CLICKHOUSE__DATABASE", cfg.clickhouse.database)
    monkeypatch.setenv("ALPR_HOTLIST__KEY_FILE", str(tmp_path / "nowhere.key"))
    monkeypatch.delenv("ALPR_HOTLIST_KEY", raising=False)
    monkeypatch.setenv("ALPR_SESSION", logged_on(cfg, "ofc.keyless", "officer"))
    rc = main(["hotlist", "show", "--list", "stolen", "ABC123", "--purpose", "traffic stop on Main St, unit 12"])
    assert rc == Exit.KEY_MISSING
    assert "alpr hotlist keygen" in capsys.readouterr().err
    monkeypatch.setenv("ALPR_HOTLIST_KEY", "k1 not-base64!")
    rc = main(["hotlist", "show", "--list", "stolen", "ABC123", "--purpose", "traffic stop on Main St, unit 12"])
    assert rc == Exit.KEY_MISSING
    assert "unusable" in capsys.readouterr().err


def test_embedded_database_files_are_private(tmp_path):
    data = tmp_path / "data"
    (data / "clickhouse" / "old").mkdir(parents=True)
    left = data / "clickhouse" / "old" / "users.bin"  # as an earlier version left it
    left.write_text("x")
    left.chmod(0o644)
    data.chmod(0o755)
    assert alpr(data, "db", "migrate").returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    exposed = [(str(p), oct(stat.S_IMODE(p.lstat().st_mode))) for p in [data / "clickhouse", *(data / "clickhouse").rglob("*")]
               if not p.is_symlink() and p.lstat().st_mode & 0o077]
    assert not exposed
    assert len(list((data / "clickhouse").rglob("*"))) > 10  # the check looked at the real files


def test_access_log_key_unusable(cfg, monkeypatch, capsys):
    monkeypatch.setenv("ALPR_DATA_DIR", cfg.data_dir)
    monkeypatch.setenv("ALPR_REDIS__URL", cfg.redis.url)
    monkeypatch.setenv("ALPR_CLICKHOUSE__DATABASE", cfg.clickhouse.database)
    monkeypatch.setenv("ALPR_SESSION", logged_on(cfg, "aud.keyless", "auditor"))
    monkeypatch.setenv("ALPR_AUDIT_KEY", "k1 not-base64!")
    rc = main(["audit", "verify", "--purpose", "quarterly review of the access log"])
    assert rc == Exit.REFUSED  # fail closed: not even the refusal can be signed
    err = capsys.readouterr().err
    assert "KeyUnavailable" in err and "internal error" not in err, err
