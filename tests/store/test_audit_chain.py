"""The access log's keyed chain against real services: rewrites re-hashed without the key (or with a
wrong one), a Redis restored from an older snapshot, signed checkpoints kept outside the database,
key rotation, and fail-closed exports when the audit record cannot be written."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from alpr.access.gate import Access
from alpr.app.cli import main
from alpr.config import Config
from alpr.dev.stack import free_port, redis_binary
from alpr.store import audit, db, evidence
from alpr.store.audit import AuditLog, AuditRecord, AuditUnavailable, KeySource
from tests.conftest import logged_on
from tests.store.test_storage import make_read, store

pytestmark = pytest.mark.integration

PURPOSE = "quarterly review of the access log"


@pytest.fixture
def keyed(cfg: Config, tmp_path: Path) -> Config:
    """The test's configuration with an access-log key file of its own."""
    cfg.audit.key_file = str(tmp_path / "keys" / "audit.key")
    return cfg


def open_access(cfg: Config) -> Access:
    client = db.connect(cfg)
    db.migrate(client, cfg)
    return Access(cfg, client, redis.Redis.from_url(cfg.redis.url))


def write(access: Access, n: int, who: str = "ofc.lee") -> None:
    for i in range(n):
        access.audit.write(AuditRecord(username=who, action="search_reads", outcome="allowed", plates=(f"7AB{i}",),
                                       purpose="stolen vehicle follow-up", rows=i))


def table_rows(access: Access) -> tuple[list[str], list[dict]]:
    result = access.client.query(f"SELECT {', '.join(audit.COLUMNS)} FROM {access.audit.table} ORDER BY seq")
    return audit.COLUMNS, [dict(zip(audit.COLUMNS, r)) for r in result.result_rows]


def replace_log(access: Access, columns: list[str], rows: list[dict]) -> None:
    """What anyone with write access to the store can do: swap the whole table's contents."""
    access.client.command(f"TRUNCATE TABLE {access.audit.table}")
    access.client.insert(access.audit.table, [[r[c] for c in columns] for r in rows], column_names=columns)


def forge(access: Access, start: int, rehash, key_id: str | None = None) -> list[str]:
    """Change record `start`, re-hash it and every later record with `rehash(prev, seq, row)`, move the
    Redis head onto the forged end; returns what verify then reports."""
    columns, rows = table_rows(access)
    prev = audit.GENESIS
    for r in rows:
        if r["seq"] == start:
            r["purpose"] = "routine patrol"
        if r["seq"] >= start:
            if key_id is not None:
                r["key_id"] = key_id
            r["prev_hash"] = prev
            r["hash"] = rehash(prev, r["seq"], r)
        prev = r["hash"]
    replace_log(access, columns, rows)
    access.redis.set(access.audit.head_key, f"{rows[-1]['seq']}:{prev}")
    return access.audit.verify()[1]


def test_a_rewrite_re_hashed_without_the_key_is_caught(keyed, caplog):
    access = open_access(keyed)
    write(access, 6)
    assert f"created the access-log key {keyed.audit.key_file}" in caplog.text  # the embedded defaults make one
    assert access.audit.verify() == (6, [])
    columns, original = table_rows(access)
    kid = original[0]["key_id"]
    assert kid and Path(keyed.audit.key_file).stat().st_mode & 0o777 == 0o600

    # plain SHA-256, the way the chain used to be hashed: the record still names its key
    problems = forge(access, 3, audit.chain_hash)
    assert "record 3: contents changed" in problems, problems
    # ...or made to look like a record from before the chain was keyed
    replace_log(access, columns, original)
    problems = forge(access, 3, audit.chain_hash, key_id="")
    assert "record 3: unkeyed after keyed records (rewritten without the key)" in problems, problems
    # ...or the whole chain downgraded, so that no keyed record is left to disagree
    replace_log(access, columns, original)
    problems = forge(access, 1, audit.chain_hash, key_id="")
    assert problems == ["no record is keyed, though the chain has a key: rewritten without the key"]
    # a wrong key under the right key id, and a key of the forger's own
    wrong = b"w" * 32
    for forged_kid in (kid, "k-forger"):
        replace_log(access, columns, original)
        problems = forge(access, 3, lambda prev, seq, r: hmac.new(
            wrong, prev.encode() + audit._canonical(seq, r), hashlib.sha256).hexdigest(), key_id=forged_kid)
        assert problems[0] in ("record 3: contents changed",
                               "record 3: signed with key 'k-forger', which the keyring lacks"), problems
        assert len(problems) == 4  # records 3 to 6, each re-hashed

    replace_log(access, columns, original)
    access.redis.set(access.audit.head_key, f"6:{original[-1]['hash']}")
    assert access.audit.verify() == (6, [])


@pytest.fixture
def own_redis(tmp_path: Path):
    """A redis-server of the test's own, which it may stop and restart from an old snapshot."""
    port, data = free_port(), tmp_path / "redis"
    data.mkdir()
    argv = [str(redis_binary()), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data), "--save", "",
            "--appendonly", "no", "--daemonize", "no"]
    procs: list[subprocess.Popen] = []

    def start() -> redis.Redis:
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        r = redis.Redis(port=port)
        for _ in range(100):
            try:
                r.ping()
                return r
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop() -> None:
        procs[-1].terminate()
        procs[-1].wait(10)

    start.stop, start.url, start.dump = stop, f"redis://127.0.0.1:{port}/0", data / "dump.rdb"
    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_a_redis_restored_from_an_older_snapshot_does_not_break_the_chain(keyed, own_redis, tmp_path):
    keyed.redis.url = own_redis.url
    r = own_redis()
    access = open_access(keyed)
    write(access, 3)
    r.save()
    old_dump = tmp_path / "old-dump.rdb"
    shutil.copy(own_redis.dump, old_dump)
    write(access, 3)
    own_redis.stop()
    shutil.copy(old_dump, own_redis.dump)  # Redis comes back with the head as it was after record 3
    r = own_redis()
    assert r.get(access.audit.head_key).decode().startswith("3:")

    access = open_access(keyed)
    write(access, 2)
    seqs = [row["seq"] for row in table_rows(access)[1]]
    assert seqs == list(range(1, 9)), seqs
    assert access.audit.verify() == (8, [])


@pytest.fixture
def cli(keyed, monkeypatch, tmp_path):
    """Run `alpr ...` against the test's services and key file, as the holder of a session token."""
    for key, value in {"ALPR_DATA_DIR": keyed.data_dir, "ALPR_REDIS__URL": keyed.redis.url,
                       "ALPR_KAFKA__BOOTSTRAP_SERVERS": keyed.kafka.bootstrap_servers,
                       "ALPR_CLICKHOUSE__DATABASE": keyed.clickhouse.database,
                       "ALPR_AUDIT__KEY_FILE": keyed.audit.key_file}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    def run(token: str, *argv: str) -> int:
        monkeypatch.setenv("ALPR_SESSION", token)
        return main(list(argv))

    return run


def test_a_checkpoint_kept_elsewhere_catches_a_rewrite_made_with_the_key(keyed, cli, tmp_path, capsys):
    auditor = logged_on(keyed, "aud.kahn", "auditor")
    access = open_access(keyed)
    write(access, 4)
    kept = tmp_path / "checkpoint.json"
    assert cli(auditor, "audit", "checkpoint", "--out", str(kept), "--purpose", PURPOSE) == 0
    write(access, 3)
    assert cli(auditor, "audit", "verify", "--checkpoint", str(kept), "--purpose", PURPOSE) == 0
    assert "chain intact" in capsys.readouterr().out

    # someone holding the key rewrites record 2, signs every later record again, moves the head and
    # removes the stored checkpoints: the log alone now looks intact...
    keys = access.audit.keys.load()
    forge(access, 2, lambda prev, seq, r: audit.keyed_hash(keys, r["key_id"], prev, seq, r))
    access.client.command(f"TRUNCATE TABLE {access.audit.checkpoint_table}")
    assert cli(auditor, "audit", "verify", "--purpose", PURPOSE) == 0
    capsys.readouterr()
    # ...but not beside the checkpoint the auditor kept
    assert cli(auditor, "audit", "verify", "--checkpoint", str(kept), "--purpose", PURPOSE) == 1
    out = capsys.readouterr().out
    seq = json.loads(kept.read_text())["seq"]
    assert f"record {seq}: differs from checkpoint {kept}: the log up to it was rewritten" in out, out

    # a checkpoint file changed by hand, or signed with another key, is refused
    forged = tmp_path / "forged.json"
    forged.write_text(kept.read_text().replace(f'"seq": {seq}', f'"seq": {seq + 1}'))
    assert cli(auditor, "audit", "verify", "--checkpoint", str(forged), "--purpose", PURPOSE) == 1
    assert "the signature does not match" in capsys.readouterr().out


def test_records_under_rotated_keys_verify(keyed, cli, capsys):
    admin = logged_on(keyed, "adm.ng", "admin")
    auditor = logged_on(keyed, "aud.kahn", "auditor")
    access = open_access(keyed)
    write(access, 3)
    assert cli(admin, "audit", "rotate-key") == 0
    write(access, 3)
    key_ids = [r["key_id"] for r in table_rows(access)[1]]
    first, second = key_ids[0], key_ids[-1]
    assert first != second and set(key_ids) == {first, second}
    assert cli(auditor, "audit", "verify", "--purpose", PURPOSE) == 0
    assert "chain intact" in capsys.readouterr().out

    # the old key is still needed: without it, its records cannot be verified
    key_file = Path(keyed.audit.key_file)
    key_file.write_text("".join(line + "\n" for line in key_file.read_text().splitlines()
                                if not line.startswith(first)))
    _, problems = access.audit.verify()
    assert problems and all(f"signed with key {first!r}, which the keyring lacks" in p for p in problems)


def test_records_from_before_the_key_verify_as_legacy(keyed, cli, capsys):
    """Records written before this change (no key id, plain SHA-256) still verify, are counted as
    legacy, and the keyed records after them cover them."""
    access = open_access(keyed)
    columns = table_rows(access)[0]
    prev, rows = audit.GENESIS, []
    for seq in (1, 2, 3):
        row = {c: "" for c in columns} | {"seq": seq, "at": datetime(2026, 1, 1, 8, seq, tzinfo=timezone.utc),
                                           "plates": [], "rows": 0, "terms": "{}", "prev_hash": prev,
                                           "username": "ofc.old", "action": "search_reads", "outcome": "allowed"}
        row["hash"] = prev = audit.chain_hash(prev, seq, row)
        rows.append(row)
    replace_log(access, columns, rows)
    auditor = logged_on(keyed, "aud.kahn", "auditor")
    assert cli(auditor, "audit", "verify", "--purpose", PURPOSE) == 0
    out = capsys.readouterr().out
    assert "3 legacy unkeyed records" in out and "chain intact" in out
    access.client.command(f"ALTER TABLE {access.audit.table} UPDATE username = 'someone' WHERE seq = 2",
                          settings={"mutations_sync": 2})
    assert "record 2: contents changed" in access.audit.verify()[1]


def test_exports_and_reports_leave_nothing_when_the_audit_record_cannot_be_written(keyed, cli, tmp_path):
    d = keyed.clickhouse.database
    access = open_access(keyed)
    now = datetime.now(timezone.utc)
    store(access.client, keyed, [make_read("7EVD123", now - timedelta(hours=i), n=i) for i in range(2)])
    evidence.hold(access.client, d, "26-100", "det.ortiz", "robbery", plate="7EVD123",
                  since=now - timedelta(days=1), until=now + timedelta(hours=1))
    analyst = logged_on(keyed, "ana.berg", "analyst")
    auditor = logged_on(keyed, "aud.kahn", "auditor")
    # a real fault: the audit table refuses every new row from here on (reads from it still work)
    access.client.command(f"ALTER TABLE {access.audit.table} ADD CONSTRAINT refuse_writes CHECK 0")

    out = tmp_path / "case.zip"
    assert cli(analyst, "evidence", "export", "--case", "26-100", "--out", str(out), "--reason", "DA request",
               "--purpose", "court filing for the robbery case") == 3
    assert not out.exists() and not list(tmp_path.glob("case.zip*"))
    assert access.client.query(f"SELECT count() FROM {d}.evidence_exports").result_rows == [(0,)]

    report = tmp_path / "report"
    assert cli(auditor, "audit", "report", "--from", str(now - timedelta(days=1)), "--to",
               str(now + timedelta(days=1)), "--out", str(report), "--purpose", PURPOSE) == 3
    assert not report.exists() or not list(report.iterdir())
    for argv in (("search", "7EVD123", "--csv", "r.csv"), ("search", "7EVD123", "--html", "r.html")):
        assert cli(analyst, *argv, "--purpose", "robbery follow-up on the plate", "--case", "26-100") == 3
    assert cli(auditor, "audit", "search", "--csv", "a.csv", "--purpose", PURPOSE) == 3
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".csv", ".html")]


def test_where_no_key_may_be_made_writes_are_refused_until_one_is(keyed, cli, caplog):
    """A server deployment gets no key by surprise: writes are refused, with the reason logged, and
    the operator makes the first key on the host, without a session (no logon could be recorded)."""
    access = open_access(keyed)
    key_file = Path(keyed.audit.key_file)
    strict = AuditLog(access.client, keyed.clickhouse.database, access.redis, KeySource(key_file, environ={}))
    record = AuditRecord(username="ofc.lee", action="search_reads", outcome="allowed", purpose="patrol follow-up")
    with pytest.raises(AuditUnavailable):
        strict.write(record)
    assert "alpr audit rotate-key" in caplog.text and not key_file.exists()

    assert cli("no-session", "audit", "rotate-key") == 0
    assert key_file.stat().st_mode & 0o777 == 0o600
    strict.write(record)
    first = table_rows(access)[1][0]
    assert first["action"] == "audit_rotate_key" and first["username"].startswith("local:") and first["key_id"]
    assert strict.verify() == (2, [])
    assert cli("no-session", "audit", "rotate-key") == 3  # from the second key on, an admin's session


def test_an_export_that_cannot_be_recorded_leaves_no_package(keyed, cli, tmp_path):
    """The other half of fail-closed exports: audited, but the export record cannot be written."""
    d = keyed.clickhouse.database
    access = open_access(keyed)
    now = datetime.now(timezone.utc)
    store(access.client, keyed, [make_read("7EVD124", now - timedelta(hours=1))])
    evidence.hold(access.client, d, "26-101", "det.ortiz", "robbery", plate="7EVD124",
                  since=now - timedelta(days=1), until=now + timedelta(hours=1))
    analyst = logged_on(keyed, "ana.berg", "analyst")
    access.client.command(f"ALTER TABLE {d}.evidence_exports ADD CONSTRAINT refuse_writes CHECK 0")
    out = tmp_path / "case.zip"
    assert cli(analyst, "evidence", "export", "--case", "26-101", "--out", str(out), "--reason", "DA request",
               "--purpose", "court filing for the robbery case") not in (0, 3)
    assert not list(tmp_path.glob("case.zip*"))
    assert access.audit.search(action="export_evidence")[0]["outcome"] == "allowed"  # the attempt is on record
