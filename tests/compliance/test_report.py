"""`alpr compliance report` and GET /v1/compliance against real chDB, Redis and key files: a compliant
deployment passes every check; each check fails on the deployment state it guards; every run is
stored, audited and shown on the API's /metrics."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from alpr.access.gate import Access
from alpr.app.api import create_app
from alpr.compliance import runs
from alpr.compliance.checks import CHECKS
from alpr.hotlists.store import list_key
from alpr.store.dispositions import HIT_COLUMNS
from alpr.store.shares import ShareStore
from alpr.store.users import User, UserStore
from tests.compliance.deployment import AUDITOR, NOW, compliant, hit_row, report, results, share
from tests.conftest import logged_on
from tests.store.test_storage import make_read, store

pytestmark = pytest.mark.integration

SYNC = {"mutations_sync": 2}


@pytest.fixture
def alpr(cli, monkeypatch):
    monkeypatch.delenv("ALPR_COMPLIANCE_SCREENSHOT", raising=False)  # ALPR_* is configuration to the CLI
    return cli


def test_a_compliant_deployment_passes_every_check(cfg, alpr, capsys, tmp_path):
    dep = compliant(cfg)
    assert alpr.login(AUDITOR, f"test-passphrase-for-{AUDITOR}") == 0
    rc, rep = report(alpr, capsys, "--html", "compliance.html")
    assert rc == 0, rep["checks"]
    assert results(rep) == {name: "pass" for name in CHECKS}
    assert rep["passed"] and rep["map_problems"] == []
    assert rep["summary"] == {"pass": 14, "fail": 0, "not_checked": 0}
    details = {c["check"]: c["detail"] for c in rep["checks"]}
    assert "2 records sampled from 1 list " in details["hotlist_sealed"]
    assert "1 held read, each under a case" == details["holds_have_cases"]
    assert details["users_current"] == "1 enabled user, each trained, certified and policy-reviewed"
    assert (tmp_path / "compliance.html").read_text().count('data-result="pass"') == 14

    # the text form: clause, result, statement, one line per check; exit 0
    assert alpr("compliance", "report", user=AUDITOR) == 0
    text = capsys.readouterr().out
    assert "820.6       PASS        Sharing: Data is shared only with law-enforcement agencies" in text
    assert "14 clauses pass, 0 fail, 0 not checked" in text

    # each run is stored whole, and audited as compliance_report
    latest = runs.latest(dep["client"], dep["db"])
    assert latest.run_by == AUDITOR and {c.name for c in latest.checks} == set(CHECKS)
    access = Access(cfg, dep["client"], dep["redis"])
    rec = access.audit.search(action="compliance_report", limit=5)
    assert [r["outcome"] for r in rec] == ["allowed", "allowed"] and rec[0]["rows"] == len(CHECKS)

    # the role table decides who may run it: an officer is refused (exit 3), and that is audited
    logged_on(cfg, "ofc.lee", "officer")
    assert alpr.login("ofc.lee", "test-passphrase-for-ofc.lee") == 0
    assert alpr("compliance", "report", user="ofc.lee") == 3
    assert access.audit.search(action="compliance_report", outcome="denied", limit=5)[0]["username"] == "ofc.lee"


def test_each_check_fails_on_the_state_it_guards(cfg, alpr, capsys):
    """One compliant deployment, broken one rule at a time: each break fails its own check (with a
    detail that names what is wrong) and no other, and the command exits 1."""
    dep = compliant(cfg)
    client, d, r = dep["client"], dep["db"], dep["redis"]
    assert alpr.login(AUDITOR, f"test-passphrase-for-{AUDITOR}") == 0
    failing: set[str] = set()

    def broken(check: str, *details: str) -> None:
        rc, rep = report(alpr, capsys)
        failing.add(check)
        assert rc == 1
        assert {n for n, res in results(rep).items() if res == "fail"} == failing, rep["checks"]
        detail = next(c["detail"] for c in rep["checks"] if c["check"] == check)
        assert all(part in detail for part in details), detail
        assert {row["clause"] for row in rep["clauses"] if row["result"] == "fail"} == {
            clause for name in failing for clause in CHECKS[name][1]}

    # 820.3: an enabled user whose CLETS certification lapsed yesterday
    UserStore(client, d).put(User("cert.gone", "Cert Gone", "City PD", "officer", trained_at=NOW.date(),
                                  certified_until=NOW.date() - timedelta(days=1), policy_reviewed_at=NOW.date()))
    broken("users_current", "cert.gone (CLETS certification expired on")

    # 820.4: a hot-list record written past the store, with a field in clear
    r.hset(list_key("stolen"), "8BAD001", json.dumps([{"plate": "8BAD001", "id": "x", "kid": "k1", "nonce": "bm9uY2U=",
                                                       "ct": "eyJyZWFzb24iOiAid2FycmFudCJ9", "at": 1, "owner": "Jo Doe"}]))
    broken("hotlist_sealed", "stolen/8BAD001: fields outside the sealed layout: owner",
           "stolen/8BAD001: ct decodes to readable text")

    # 820.8: a hit published 30 hours ago that nobody took a step on
    client.insert(f"{d}.hits", [hit_row("c3" * 16, NOW - timedelta(hours=30))], column_names=HIT_COLUMNS)
    broken("hits_disposed", "1 hit published over 24 h ago without a workflow step", "c3" * 16)

    # 820.5: a hold flag that no case's hold covers, and a hold recorded without a case
    client.command(f"ALTER TABLE {d}.reads UPDATE hold = 1 WHERE read_id = %(id)s",
                   parameters={"id": dep["reads"][1].read_id}, settings=SYNC)
    broken("holds_have_cases", "1 row of reads flagged held with no case's hold")
    client.insert(f"{d}.evidence_holds", [["", dep["reads"][2].read_id, NOW, "someone", NOW, "", 1]],
                  column_names=["case_id", "read_id", "captured_at", "held_by", "held_at", "reason", "version"])
    broken("holds_have_cases", "1 active hold without a case")

    # 820.5: an unheld read past the two years, left because enforcement has not run (TTL merges are lazy)
    client.command(f"SYSTEM STOP TTL MERGES {d}.reads")
    store(client, cfg, [make_read("6OLD001", NOW - timedelta(days=2 * 365 + 30))])
    broken("retention", "past the limit, run `alpr retention enforce`")

    # 820.6: a share sent to a federal agency without an approval on record
    ShareStore(client, d).put(share("SR-20261202-000002", agency_name="Federal Task Force", agency_type="federal",
                                    status="fulfilled", fulfilled_by="ana.berg", fulfilled_at=NOW - timedelta(hours=5),
                                    export_id="y2" * 16))
    broken("sharing", "request SR-20261202-000002 to Federal Task Force", "no approval on record")

    # 820.7: an audit record changed in place
    client.command(f"ALTER TABLE {d}.audit_log UPDATE purpose = 'nothing to see' WHERE seq = 1", settings=SYNC)
    broken("audit_chain", "problem in", "records")
    assert failing == set(CHECKS) - {"classified"}  # an unclassified route: see the API test


def test_the_api_serves_the_report_and_the_gauges_of_the_latest_run(cfg):
    dep = compliant(cfg)
    access = Access(cfg, dep["client"], dep["redis"])
    app = create_app(cfg, access)

    @app.get("/v1/export-everything")  # a route nobody classified
    def export_everything() -> dict:
        return {}

    http = TestClient(app)
    auditor = {"Authorization": f"Bearer {dep['token']}"}
    got = http.get("/v1/compliance", headers=auditor)
    assert got.status_code == 200, got.text
    rep = got.json()
    assert not rep["passed"]
    classified = next(c for c in rep["checks"] if c["check"] == "classified")
    assert classified["result"] == "fail" and "route /v1/export-everything is not classified" in classified["detail"]
    assert {c["check"] for c in rep["checks"] if c["result"] == "fail"} == {"classified"}

    page = http.get("/v1/compliance", headers=auditor, params={"format": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "route /v1/export-everything is not classified" in page.text and "default-src 'none'" in page.headers[
        "content-security-policy"]

    metrics = http.get("/metrics").text
    assert 'alpr_compliance_check_passed{check="classified",clause="820.1"} 0.0' in metrics
    assert 'alpr_compliance_check_passed{check="retention",clause="820.5"} 1.0' in metrics
    assert "alpr_compliance_checks_not_checked 0.0" in metrics
    stamp = float(next(line.split()[1] for line in metrics.splitlines()
                       if line.startswith("alpr_compliance_last_run_timestamp_seconds ")))
    assert stamp == runs.latest(dep["client"], dep["db"]).run_at.timestamp()

    officer = {"Authorization": f"Bearer {logged_on(cfg, 'ofc.lee', 'officer')}"}
    assert http.get("/v1/compliance", headers=officer).status_code == 403
    assert http.get("/v1/compliance").status_code == 401
