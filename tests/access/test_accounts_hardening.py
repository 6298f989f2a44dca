"""Accounts and client identity: whose address the audit log records, the first admin and root's
recovery, what admins may not do to their own or the last admin account, logons that do not tell
which names exist, and purposes that say something."""

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from alpr.access.gate import Access, AccessDenied, Caller
from alpr.app.api import create_app
from alpr.app.cli import main
from alpr.dev.stack import free_port
from alpr.domain import passwords
from alpr.store import db
from alpr.store.users import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.integration

NEW_PASSWORD = "violet-anchor-drizzle-map-47"
TODAY = date.today()
REPO = Path(__file__).resolve().parents[2]


def person(username: str, role: str = "officer", **kw) -> User:
    base = dict(full_name=username.title(), organisation="City PD", role=role,
                password_hash=passwords.hash_password(PASSWORD), trained_at=TODAY,
                certified_until=TODAY + timedelta(days=300), policy_reviewed_at=TODAY)
    return User(username=username, **{**base, **kw})


@pytest.fixture
def access(cfg) -> Access:
    client = db.connect(cfg)
    db.migrate(client, cfg)
    return Access(cfg, client, redis.Redis.from_url(cfg.redis.url))


def records(access: Access, action: str = "") -> list[dict]:
    return list(reversed(access.audit.search(action=action, limit=1000)))


def bootstrap(cli, name: str = "chief", until: date = TODAY + timedelta(days=300)) -> int:
    return cli("users", "bootstrap-admin", name, "--name", name.title(), "--org", "City PD",
               "--certified-until", str(until), "--password-stdin", stdin=PASSWORD + "\n")


# -- item 8: the client's address ---------------------------------------------------------------------

READ_LOGONS = """
import json, sys
from alpr import config
from alpr.store import db
out = {}
for database in sys.argv[1:]:
    cfg = config.load()
    cfg.clickhouse.database = database
    rows = db.connect(cfg).query(f"SELECT client_ip FROM {database}.audit_log WHERE action = 'logon'").result_rows
    out[database] = [r[0] for r in rows]
print(json.dumps(out))
"""


def serve_and_logon(env: dict, database: str, trusted: str, forwarded: str) -> None:
    """`alpr serve` as deployed, one failed logon through it from 127.0.0.1 carrying X-Forwarded-For."""
    port = free_port()
    env = {**env, "ALPR_CLICKHOUSE__DATABASE": database, "ALPR_API__TRUSTED_PROXIES": trusted}
    proc = subprocess.Popen([sys.executable, "-m", "alpr", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "alpr serve did not start"
            time.sleep(0.2)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/logon", json={"username": "ghost", "password": "whatever-it-is"},
                       headers={"X-Forwarded-For": forwarded})
        assert r.status_code == 401, r.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def test_the_api_believes_forwarded_for_only_from_a_trusted_proxy(services, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_") and k != "FORWARDED_ALLOW_IPS"}
    env.update({"ALPR_DATA_DIR": str(tmp_path / "data"), "ALPR_REDIS__URL": services.redis.url,
                "ALPR_KAFKA__BOOTSTRAP_SERVERS": services.kafka.bootstrap_servers})
    redis.Redis.from_url(services.redis.url).delete(*[f"alpr:audit:{d}:head" for d in ("xff_none", "xff_proxy")])
    # the client wrote 6.6.6.6 itself; the proxy on 127.0.0.1 appended the address it saw, 203.0.113.9
    serve_and_logon(env, "xff_none", "", "6.6.6.6, 203.0.113.9")
    serve_and_logon(env, "xff_proxy", "127.0.0.1/32", "6.6.6.6, 203.0.113.9")
    out = subprocess.run([sys.executable, "-c", READ_LOGONS, "xff_none", "xff_proxy"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"xff_none": ["127.0.0.1"], "xff_proxy": ["203.0.113.9"]}


def test_serve_refuses_a_trusted_proxy_it_cannot_read(monkeypatch, capsys):
    monkeypatch.setenv("ALPR_API__TRUSTED_PROXIES", "127.0.0.1, proxy.local")
    assert main(["serve", "--port", str(free_port())]) == 2
    assert "'proxy.local' is not an IP address or network" in capsys.readouterr().err


def test_the_cli_records_its_host_and_os_user_and_marks_ssh_client_self_reported(access, cli, monkeypatch):
    access.users.put(person("ofc.lee"))
    monkeypatch.setenv("SSH_CLIENT", "203.0.113.66 50123 22")
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    assert cli.login("ofc.lee") == 0
    rec = records(access, "logon")[-1]
    assert rec["client_ip"] == "127.0.0.1"  # the CLI cannot vouch for SSH_CLIENT
    name = pwd.getpwuid(os.getuid()).pw_name
    assert rec["origin"] == (f"cli host={socket.gethostname()} uid={os.getuid()} user={name} "
                             "ssh_client=203.0.113.66(self-reported)")
    assert cli("search", "7ABC123", "--purpose", "robbery follow-up", user="ofc.lee") == 0
    assert records(access, "search_reads")[-1]["origin"] == rec["origin"]


# -- item 11: the first admin, root's recovery, and what admins may not do ------------------------------

def test_bootstrap_admin_can_log_on_once_and_only_from_the_local_cli(access, cfg, cli, capsys):
    assert cli("users", "add", "chief", "--name", "Chief", "--org", "City PD", "--role", "admin",
               "--password-stdin", stdin=PASSWORD + "\n") == 3  # no implicit first user any more
    assert bootstrap(cli, until=TODAY + timedelta(days=3 * 365)) == 3  # beyond policy.certification_max_years
    assert "at most 2 years" in capsys.readouterr().err
    assert bootstrap(cli, until=TODAY - timedelta(days=1)) == 3  # an expired certification lets nobody in
    assert bootstrap(cli) == 0
    chief = access.users.get("chief")
    assert (chief.role, chief.trained_at, chief.policy_reviewed_at) == ("admin", TODAY, TODAY)
    assert cli.login("chief") == 0
    assert bootstrap(cli, "chief2") == 3  # an enabled admin exists
    assert "an enabled admin exists (chief)" in capsys.readouterr().err
    log = [(r["username"], r["outcome"], r["reason"][:30]) for r in records(access, "bootstrap_admin")]
    assert [o for _, o, _ in log] == ["denied", "denied", "allowed", "denied"]
    assert records(access, "bootstrap_admin")[2]["origin"].startswith(f"cli host={socket.gethostname()} ")
    routes = [getattr(r, "path", "") for r in create_app(cfg, access).routes]
    assert "/v1/users" in routes and not [p for p in routes if "bootstrap" in p or "break" in p]  # never in the API


def test_an_admin_may_not_vouch_for_themselves_or_remove_the_last_admin(access, cli, capsys):
    assert bootstrap(cli) == 0 and cli.login("chief") == 0
    for argv in (("record-training", "chief"), ("record-policy-review", "chief"),
                 ("record-certification", "chief", "--until", str(TODAY + timedelta(days=100))),
                 ("record-contractor-vetting", "chief", "--waiver-signed", str(TODAY)),
                 ("set-role", "chief", "--role", "auditor")):
        capsys.readouterr()
        assert cli("users", *argv, user="chief") == 3, argv
        assert "on their own account" in capsys.readouterr().err
    assert cli("users", "disable", "chief", user="chief") == 3
    assert "no enabled, unlocked admin" in capsys.readouterr().err
    denied = [r for r in records(access, "manage_users") if r["outcome"] == "denied"]
    assert len(denied) == 6 and all(r["username"] == "chief" for r in denied)

    assert cli("users", "add", "ofc.kim", "--name", "Kim", "--org", "City PD", "--role", "officer",
               "--password-stdin", user="chief", stdin=PASSWORD + "\n") == 0
    tomorrow = str(TODAY + timedelta(days=1))
    for argv, reason in ((("record-training", "ofc.kim", "--date", tomorrow), "may not be in the future"),
                         (("record-policy-review", "ofc.kim", "--date", tomorrow), "may not be in the future"),
                         (("record-contractor-vetting", "ofc.kim", "--waiver-signed", tomorrow), "in the future"),
                         (("record-certification", "ofc.kim", "--until", str(TODAY + timedelta(days=2 * 366))),
                          "at most 2 years")):
        capsys.readouterr()
        assert cli("users", *argv, user="chief") == 3, argv
        assert reason in capsys.readouterr().err
    for argv in (("record-training", "ofc.kim"), ("record-policy-review", "ofc.kim"),
                 ("record-certification", "ofc.kim", "--until", str(TODAY + timedelta(days=700)))):
        assert cli("users", *argv, user="chief") == 0, argv
    assert cli.login("ofc.kim") == 0


def test_the_api_user_routes_keep_the_same_rules(access, cfg):
    access.users.put(person("chief", "admin"))
    access.users.put(person("ofc.api"))
    api = TestClient(create_app(cfg, access))
    token = api.post("/v1/logon", json={"username": "chief", "password": PASSWORD}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = api.post("/v1/users/chief/set-role", params={"role": "auditor"}, headers=auth)
    assert r.status_code == 403 and "own account" in r.json()["detail"]
    r = api.post("/v1/users/chief/disable", headers=auth)
    assert r.status_code == 403 and "no enabled, unlocked admin" in r.json()["detail"]
    assert api.post("/v1/users/ofc.api/disable", headers=auth).status_code == 200
    assert access.users.get("chief").role == "admin" and not access.users.get("chief").disabled


def test_break_glass_recovers_the_only_admin_for_local_root_with_a_forced_password_change(access, cli, capsys):
    assert bootstrap(cli) == 0
    for _ in range(5):
        assert cli.login("chief", "a wrong guess at it") == 3
    assert access.users.get("chief").locked
    assert cli("users", "break-glass", "chief", "--password-stdin", stdin=NEW_PASSWORD + "\n") == (
        0 if os.geteuid() == 0 else 3)
    if os.geteuid() != 0:
        pytest.skip("the rest needs root")
    assert cli.login("chief", NEW_PASSWORD) == 0
    assert "run alpr passwd" in capsys.readouterr().err
    assert cli("users", "list", user="chief") == 3  # only a password change until then
    assert "password change required: run alpr passwd" in capsys.readouterr().err
    assert cli("passwd", "--password-stdin", user="chief", stdin=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n") == 3
    assert cli("passwd", "--password-stdin", user="chief", stdin=f"{NEW_PASSWORD}\n{PASSWORD}\n") == 0
    assert cli("users", "list", user="chief") == 0
    assert not access.users.get("chief").must_change_password

    # only while no other enabled, unlocked admin exists; only for an admin; only as root (audited)
    access.users.put(person("dep", "admin"))
    assert cli("users", "break-glass", "chief", "--password-stdin", stdin=NEW_PASSWORD + "\n") == 3
    assert "another admin can unlock or enable chief: dep" in capsys.readouterr().err
    assert cli("users", "break-glass", "dep", "--password-stdin", stdin=NEW_PASSWORD + "\n") == 3
    with pytest.raises(AccessDenied, match="break-glass needs local root"):
        access.break_glass("chief", passwords.hash_password(NEW_PASSWORD), Caller("", "127.0.0.1"), euid=1000)
    log = [(r["username"], r["outcome"]) for r in records(access, "break_glass")]
    assert log == [("chief", "allowed"), ("chief", "denied"), ("dep", "denied"), ("chief", "denied")]
    assert access.audit.verify()[1] == []


# -- item 12: logons that do not tell which names exist, and purposes that say something -------------------

def answers(access: Access, username: str, tries: int) -> list[str]:
    out = []
    for _ in range(tries):
        with pytest.raises(AccessDenied) as exc:
            access.logon(username, "a wrong guess at it", "10.0.0.8")
        out.append(exc.value.reason)
    return out


def test_an_unknown_name_gets_the_same_answers_as_a_wrong_password(access):
    access.users.put(person("ofc.ng"))
    real, unknown = answers(access, "ofc.ng", 7), answers(access, "ofc.nobody", 7)
    assert real == unknown
    assert real[0] == "unknown user or wrong password (1 of 5)"
    assert real[4].endswith("account locked after 5 failures") and "locked" in real[6]
    assert access.users.get("ofc.ng").locked and access.users.get("ofc.nobody") is None
    # disabled is told only to whoever knows the password
    access.users.put(person("ofc.gone", disabled=True))
    assert answers(access, "ofc.gone", 1) == ["unknown user or wrong password (1 of 5)"]
    with pytest.raises(AccessDenied, match="account disabled"):
        access.logon("ofc.gone", PASSWORD, "10.0.0.8")


def test_an_unknown_name_takes_as_long_as_a_wrong_password(access):
    access.users.put(person("ofc.time"))

    def quickest(username: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            with pytest.raises(AccessDenied):
                access.logon(username, "a wrong guess at it", "10.0.0.8")
            times.append(time.perf_counter() - start)
        return min(times)

    real, unknown = quickest("ofc.time"), quickest("ofc.ghost")
    assert 0.5 < unknown / real < 2, (real, unknown)  # both run one scrypt


@pytest.mark.parametrize("purpose", [".", "x", "patrol", "...........", "robbery\x00follow-up"])
def test_a_purpose_must_say_why_in_the_cli_and_the_api(access, cfg, cli, capsys, purpose):
    access.users.put(person("ofc.lee"))
    assert cli.login("ofc.lee") == 0
    assert cli("search", "7ABC123", "--purpose", purpose, user="ofc.lee") == 3
    assert "purpose" in capsys.readouterr().err
    token = access.logon("ofc.lee", PASSWORD, "10.0.0.5")
    r = TestClient(create_app(cfg, access)).get("/v1/reads", params={"plate": "7ABC123", "purpose": purpose},
                                                headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "purpose" in r.json()["detail"], r.text
    assert [r["outcome"] for r in records(access, "search_reads")] == ["denied", "denied"]
    with access.use(Caller(token, "10.0.0.5", purpose="robbery follow-up"), "search_reads"):
        pass


def test_an_admin_sets_an_officers_unit_which_ends_their_sessions_and_is_audited(access, cfg, cli):
    access.users.put(person("adm.unit", "admin"))
    access.users.put(person("ofc.unit7"))
    token = access.logon("ofc.unit7", PASSWORD, "127.0.0.1")
    assert cli.login("adm.unit") == 0
    assert cli("users", "set-unit", "ofc.unit7", "--unit", "mobile-07", user="adm.unit") == 0
    assert access.users.get("ofc.unit7").unit == "mobile-07"
    assert access.sessions.get(token) is None  # what they may see changed: log on again
    rec = records(access, "manage_users")[-1]
    assert (rec["username"], rec["outcome"]) == ("adm.unit", "allowed") and "mobile-07" in rec["terms"]
    assert cli("users", "set-unit", "adm.unit", "--unit", "mobile-01", user="adm.unit") == 3  # not on oneself
