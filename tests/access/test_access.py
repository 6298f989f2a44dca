"""Users, logon, sessions, the policy's eligibility rules, purpose, and the hash-chained audit log."""

import time
from dataclasses import replace
from datetime import date, timedelta

import pytest
import redis

from alpr.access.gate import Access, AccessDenied, AuditUnavailable, Caller
from alpr.domain import passwords
from alpr.store import db
from alpr.store.audit import AuditRecord
from alpr.store.users import User

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery-staple-91"
TODAY = date.today()


def person(username: str, role: str = "officer", **kw) -> User:
    base = dict(full_name=username.title(), organisation="City PD", role=role,
                password_hash=passwords.hash_password(PASSWORD), trained_at=TODAY - timedelta(days=100),
                certified_until=TODAY + timedelta(days=300), policy_reviewed_at=TODAY - timedelta(days=10))
    base.update(kw)
    return User(username=username, **base)


@pytest.fixture
def access(cfg):
    client = db.connect(cfg)
    db.migrate(client, cfg)
    return Access(cfg, client, redis.Redis.from_url(cfg.redis.url))


def records(access: Access) -> list[dict]:
    return list(reversed(access.audit.search(limit=1000)))


def test_logon_session_and_every_decision_audited(access):
    access.users.put(person("ofc.lee"))
    token = access.logon("ofc.lee", PASSWORD, "10.0.0.5")
    me = Caller(token, "10.0.0.5", purpose="stolen vehicle follow-up", case_id="2026-17")
    with access.use(me, "search_reads", terms={"plate": "7ABC123"}, plates=["7ABC123"]) as grant:
        grant.rows = 3
    with pytest.raises(AccessDenied, match="purpose is required"):
        with access.use(replace(me, purpose=""), "search_reads", plates=["7ABC123"]):
            pass
    with pytest.raises(AccessDenied, match="may not run sql"):
        with access.use(me, "run_sql", terms={"sql": "SELECT 1"}):
            pass
    with pytest.raises(AccessDenied, match="not logged on"):
        with access.use(replace(me, token="forged"), "search_reads", plates=["7ABC123"]):
            pass
    access.logout(me)
    with pytest.raises(AccessDenied, match="not logged on"):
        with access.use(me, "view_read"):
            pass

    log = records(access)
    assert [(r["action"], r["outcome"]) for r in log] == [
        ("logon", "allowed"), ("search_reads", "allowed"), ("search_reads", "denied"), ("run_sql", "denied"),
        ("search_reads", "denied"), ("logout", "allowed"), ("view_read", "denied")]
    search = log[1]
    assert (search["username"], search["organisation"], search["role"], search["client_ip"]) == (
        "ofc.lee", "City PD", "officer", "10.0.0.5")
    assert (search["purpose"], search["case_id"], search["plates"], search["rows"]) == (
        "stolen vehicle follow-up", "2026-17", ["7ABC123"], 3)
    assert '"plate":"7ABC123"' in search["terms"]
    assert access.audit.verify() == (7, [])


@pytest.mark.parametrize("change, reason", [
    (dict(certified_until=TODAY - timedelta(days=1)), "CLETS certification expired"),
    (dict(certified_until=None), "CLETS certification not recorded"),
    (dict(trained_at=None), "training not recorded"),
    (dict(policy_reviewed_at=TODAY - timedelta(days=366)), "policy review older than 365 days"),
    (dict(role="contractor"), "contractor vetting or signed waiver missing"),
    (dict(disabled=True), "account disabled"),
])
def test_the_policy_keeps_out_users_who_are_not_current(access, change, reason):
    access.users.put(person("ofc.kim", **change))
    with pytest.raises(AccessDenied, match=reason):
        access.logon("ofc.kim", PASSWORD, "10.0.0.6")
    assert records(access)[-1]["reason"].startswith(reason)


def test_lapsing_after_logon_ends_the_session(access):
    access.users.put(person("ofc.ray"))
    token = access.logon("ofc.ray", PASSWORD, "10.0.0.7")
    access.users.put(person("ofc.ray", certified_until=TODAY - timedelta(days=1)))
    with pytest.raises(AccessDenied, match="CLETS"):
        with access.use(Caller(token, "10.0.0.7", purpose="patrol plate check"), "search_reads"):
            pass
    with pytest.raises(AccessDenied, match="not logged on"):
        access.whoami(Caller(token, "10.0.0.7"))


def test_five_failures_lock_the_account_until_an_admin_unlocks_it(access):
    access.users.put(person("ofc.ng"))
    for i in range(4):
        with pytest.raises(AccessDenied, match=rf"\({i + 1} of 5\)"):
            access.logon("ofc.ng", "wrong password guess", "10.0.0.8")
    with pytest.raises(AccessDenied, match="locked after 5"):
        access.logon("ofc.ng", "wrong password guess", "10.0.0.8")
    with pytest.raises(AccessDenied, match="locked"):
        access.logon("ofc.ng", PASSWORD, "10.0.0.8")  # even the right password
    access.users.put(replace(access.users.get("ofc.ng"), locked=False))
    assert access.logon("ofc.ng", PASSWORD, "10.0.0.8")
    # an unknown user gets the same answer as a wrong password (test_accounts_hardening.py)
    with pytest.raises(AccessDenied, match=r"^unknown user or wrong password \(1 of 5\)$"):
        access.logon("nobody", PASSWORD, "10.0.0.8")


def test_idle_sessions_expire(cfg):
    cfg.policy.session_idle_min = 1
    client = db.connect(cfg)
    db.migrate(client, cfg)
    r = redis.Redis.from_url(cfg.redis.url)
    access = Access(cfg, client, r)
    access.users.put(person("ofc.idle"))
    token = access.logon("ofc.idle", PASSWORD, "10.0.0.9")
    key = access.sessions._key(token)
    assert 0 < r.ttl(key) <= 60
    r.pexpire(key, 1)  # as if the minute had passed without use
    time.sleep(0.05)
    with pytest.raises(AccessDenied, match="not logged on"):
        access.whoami(Caller(token, "10.0.0.9"))
    cfg.policy.session_hours = 0  # absolute limit: a session older than 0 hours is over at once
    access = Access(cfg, client, r)
    token = access.logon("ofc.idle", PASSWORD, "10.0.0.9")
    with pytest.raises(AccessDenied, match="not logged on"):
        access.whoami(Caller(token, "10.0.0.9"))


def test_an_access_whose_audit_record_cannot_be_written_is_refused(access, cfg):
    access.users.put(person("ofc.fail"))
    token = access.logon("ofc.fail", PASSWORD, "10.0.0.10")
    access.audit.table = f"{cfg.clickhouse.database}.audit_log_gone"  # the audit store is unavailable
    returned = []
    with pytest.raises(AuditUnavailable):
        with access.use(Caller(token, "10.0.0.10", purpose="patrol plate check"), "search_reads") as grant:
            grant.rows = 1
        returned.append("data")
    assert returned == []


def test_audit_verify_detects_changed_deleted_inserted_and_cut_records(access, cfg):
    for i in range(6):
        access.audit.write(AuditRecord(username=f"user{i}", action="search_reads", outcome="allowed", plates=("X1",)))
    assert access.audit.verify() == (6, [])
    t = f"{cfg.clickhouse.database}.audit_log"
    client = access.audit.client
    sync = {"mutations_sync": 2}
    client.command(f"ALTER TABLE {t} UPDATE purpose = 'edited' WHERE seq = 2", settings=sync)
    _, problems = access.audit.verify()
    assert problems == ["record 2: contents changed"]
    client.command(f"ALTER TABLE {t} DELETE WHERE seq = 4", settings=sync)
    _, problems = access.audit.verify()
    assert "record 4 missing before 5" in problems and "record 5: does not follow the record before it" in problems
    client.command(f"ALTER TABLE {t} DELETE WHERE seq = 6", settings=sync)
    _, problems = access.audit.verify()
    assert "the chain ends at record 5, but record 6 was written" in problems
    # a forged record slipped in, with a hash computed the honest way, still breaks the chain
    row = client.query(f"SELECT * FROM {t} WHERE seq = 3").result_rows[0]
    client.insert(t, [list(row[:2]) + ["intruder"] + list(row[3:])], column_names=client.query(
        f"SELECT * FROM {t} LIMIT 0").column_names)
    _, problems = access.audit.verify()
    assert "record 3 appears twice" in problems
