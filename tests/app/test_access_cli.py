"""The CLI end to end: bootstrap, users, logon, purpose, and proof that every command touching LPR
data (or the access log) writes an audit record, when allowed and when denied."""

from datetime import date, datetime, timedelta, timezone

import pytest
import redis

from alpr.access.gate import Access
from alpr.app.classified import AUDITED_COMMANDS, UNAUDITED_COMMANDS, command_paths
from alpr.app.cli import build_parser
from alpr.compliance.rules import Surface, stale_classifications, surface_problems
from alpr.domain.roles import ACTIONS
from alpr.store import db
from tests.conftest import PASSWORD
from tests.store.test_storage import make_read, store

pytestmark = pytest.mark.integration

TODAY = date.today()


def surface() -> Surface:
    """The real command tree with the product's classification (alpr/app/classified.py); routes are
    checked by the compliance report against the running app."""
    return Surface(command_paths(build_parser()), (), AUDITED_COMMANDS, UNAUDITED_COMMANDS, {}, {})


def test_every_command_is_classified():
    """A new command fails here (and in `alpr compliance report`) until alpr/app/classified.py says
    which audited action it records, or why it needs none; a removed one, until it leaves the list."""
    assert surface_problems(surface(), ACTIONS) == []
    assert stale_classifications(surface()) == []


def access_for(cfg) -> Access:
    client = db.connect(cfg)
    return Access(cfg, client, redis.Redis.from_url(cfg.redis.url))


def add_user(cli, name: str, role: str, *extra: str) -> None:
    assert cli("users", "add", name, "--name", name.title(), "--org", "City PD", "--role", role, *extra,
               "--password-stdin", user="chief", stdin=PASSWORD + "\n") == 0
    for cmd in (("record-training", name), ("record-policy-review", name),
                ("record-certification", name, "--until", str(TODAY + timedelta(days=200)))):
        assert cli("users", *cmd, user="chief") == 0


def test_users_logon_purpose_and_audit_through_the_cli(cfg, cli, capsys, tmp_path):
    # `users add` needs an admin's session; the first admin comes from `users bootstrap-admin` and can log on
    assert cli("users", "add", "chief", "--name", "Chief", "--org", "City PD", "--role", "admin",
               "--password-stdin", stdin=PASSWORD + "\n") == 3
    assert cli("users", "bootstrap-admin", "chief", "--name", "Chief", "--org", "City PD", "--certified-until",
               str(TODAY + timedelta(days=90)), "--password-stdin", stdin=PASSWORD + "\n") == 0
    acc = access_for(cfg)
    assert cli.login("chief") == 0
    # a weak password is refused
    assert cli("users", "add", "weak.one", "--name", "W", "--org", "City PD", "--role", "officer",
               "--password-stdin", user="chief", stdin="password123456\n") == 2
    add_user(cli, "det.ortiz", "officer")
    add_user(cli, "ana.berg", "analyst")
    add_user(cli, "aud.kahn", "auditor")
    add_user(cli, "lt.ross", "approver", "--rank", "watch_commander")
    for u in ("det.ortiz", "ana.berg", "aud.kahn", "lt.ross"):
        assert cli.login(u) == 0

    client = db.connect(cfg)
    now = datetime.now(timezone.utc)
    store(client, cfg, [make_read("7ABC123", now - timedelta(days=1), n=i) for i in range(3)])
    capsys.readouterr()

    def audited(*argv: str, user: str, rc: int, action: str, outcome: str) -> dict:
        before = acc.audit.search(limit=1)[0]["seq"]
        assert cli(*argv, user=user) == rc, capsys.readouterr().err
        new = [r for r in acc.audit.search(limit=50) if r["seq"] > before]
        assert any(r["action"] == action and r["outcome"] == outcome for r in new), new
        return next(r for r in new if r["action"] == action)

    # every LPR command, denied (wrong role or no purpose) and allowed
    rec = audited("search", "7ABC123", user="det.ortiz", rc=3, action="search_reads", outcome="denied")
    assert rec["reason"] == "a purpose is required" and rec["plates"] == ["7ABC123"]
    rec = audited("search", "7ABC123", "--purpose", "robbery follow-up", "--case", "26-100", "--html", "r.html",
                  user="det.ortiz", rc=0, action="search_reads", outcome="allowed")
    assert (rec["rows"], rec["case_id"], rec["organisation"]) == (3, "26-100", "City PD")
    assert (tmp_path / "r.html").read_text().count("data:image/jpeg") == 6
    audited("search", "7ABC123", "--purpose", "curious about it", user=None, rc=3, action="search_reads", outcome="denied")
    audited("evidence", "hold", "--case", "26-100", "--plate", "7ABC123", "--from", str(now - timedelta(days=2)),
            "--to", str(now), "--reason", "robbery", "--purpose", "preserve for trial", user="aud.kahn", rc=3,
            action="hold_evidence", outcome="denied")
    audited("evidence", "hold", "--case", "26-100", "--plate", "7ABC123", "--from", str(now - timedelta(days=2)),
            "--to", str(now), "--reason", "robbery", "--purpose", "preserve for trial", user="det.ortiz", rc=0,
            action="hold_evidence", outcome="allowed")
    audited("evidence", "export", "--case", "26-100", "--out", "p.zip", "--reason", "DA", "--purpose", "discovery for court",
            user="det.ortiz", rc=3, action="export_evidence", outcome="denied")
    audited("evidence", "export", "--case", "26-100", "--out", "p.zip", "--reason", "DA", "--purpose", "discovery for court",
            user="ana.berg", rc=0, action="export_evidence", outcome="allowed")
    assert cli("evidence", "verify", "p.zip") == 0
    audited("evidence", "release", "--case", "26-100", "--purpose", "case closed", user="det.ortiz", rc=3,
            action="release_evidence", outcome="denied")
    audited("evidence", "release", "--case", "26-100", "--purpose", "case closed", user="lt.ross", rc=0,
            action="release_evidence", outcome="allowed")
    sql = "SELECT plate, count() FROM reads WHERE plate = '7ABC123' GROUP BY plate"
    audited("sql", sql, "--purpose", "plate trend for the case", user="det.ortiz", rc=3, action="run_sql", outcome="denied")
    rec = audited("sql", sql, "--purpose", "plate trend for the case", user="ana.berg", rc=0, action="run_sql", outcome="allowed")
    assert rec["plates"] == ["7ABC123"] and "7ABC123\t3" in capsys.readouterr().out
    audited("sql", "SELECT * FROM system.users", "--purpose", "plate trend for the case", user="ana.berg", rc=2, action="run_sql",
            outcome="error")
    audited("retention", "enforce", user="ana.berg", rc=3, action="retention_enforce", outcome="denied")
    audited("retention", "enforce", user="chief", rc=0, action="retention_enforce", outcome="allowed")
    audited("retention", "report", user="chief", rc=0, action="retention_report", outcome="allowed")
    for sub in (("verify",), ("search", "--plate", "7ABC123"), ("report", "--from", str(now - timedelta(days=1)),
                                                                    "--to", str(now + timedelta(days=1)))):
        action = f"audit_{sub[0]}"
        audited("audit", *sub, "--purpose", "quarterly audit", user="det.ortiz", rc=3, action=action, outcome="denied")
        audited("audit", *sub, user="aud.kahn", rc=3, action=action, outcome="denied")  # no purpose
        audited("audit", *sub, "--purpose", "quarterly audit", user="aud.kahn", rc=0, action=action, outcome="allowed")

    report = (tmp_path / "audit-report" / "report.html").read_text()
    assert "Denied attempts" in report and "<svg" in report
    denied_csv = (tmp_path / "audit-report" / "denied.csv").read_text()
    assert "a purpose is required" in denied_csv
    assert "det.ortiz" in (tmp_path / "audit-report" / "per_user_purpose.csv").read_text()

    # account changes are audited; disabling a user ends their session
    assert cli("users", "disable", "det.ortiz", user="chief") == 0
    assert cli("search", "7ABC123", "--purpose", "robbery follow-up", user="det.ortiz") == 3
    assert acc.audit.verify()[1] == []
