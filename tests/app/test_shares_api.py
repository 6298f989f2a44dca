"""Sharing on written request over HTTP: the same rules and records as the CLI, with the API's answers."""

import base64
import io
import json
import zipfile
from datetime import date, datetime, timedelta, timezone

import pytest
import redis
from fastapi.testclient import TestClient

from alpr.access.gate import Access, AccessDenied, Caller
from alpr.access.shares import ShareDesk
from alpr.app.api import create_app
from alpr.domain import passwords
from alpr.store import db
from alpr.store.users import User
from tests.conftest import PASSWORD
from tests.store.test_storage import make_read, store

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc)
PURPOSE = "records request from Oakland PD, approved"


def body(**change) -> dict:
    return {"agency_name": "Oakland Police Department", "agency_ori": "CA0010900", "agency_type": "police",
            "agency_state": "CA", "requester_name": "Det. R. Lane", "requester_title": "Detective",
            "requester_contact": "rlane@oaklandpd.example", "reason": "armed robbery suspect vehicle",
            "case_number": "OPD-26-1187", "since": (NOW - timedelta(days=7)).isoformat(),
            "until": (NOW - timedelta(hours=1)).isoformat(), "plates": ["7ABC123"], "letter_name": "request.eml",
            "letter_base64": base64.b64encode(b"From: rlane@oaklandpd.example\n\nPlease send...").decode(), **change}


def test_a_request_over_http_from_receipt_to_package(cfg):
    client = db.connect(cfg)
    db.migrate(client, cfg)
    access = Access(cfg, client, redis.Redis.from_url(cfg.redis.url))
    read = make_read("7ABC123", NOW - timedelta(days=2))
    store(client, cfg, [read, make_read("7ABC123", NOW - timedelta(days=20), n=1)])
    http = TestClient(create_app(cfg, access))
    today = date.today()
    for name, role, rank in (("aa.http", "records", ""), ("ana.http", "analyst", ""),
                             ("lt.http", "approver", "detective_bureau_lieutenant")):
        access.users.put(User(name, name, "City PD", role, rank=rank, password_hash=passwords.hash_password(PASSWORD),
                              trained_at=today, certified_until=today + timedelta(days=30), policy_reviewed_at=today))
    tokens = {name: access.logon(name, PASSWORD, "127.0.0.1") for name in ("aa.http", "ana.http", "lt.http")}

    def call(method: str, path: str, user: str, **kw):
        return http.request(method, path, headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)

    made = call("POST", "/v1/shares", "aa.http", json=body())
    assert made.status_code == 201, made.text
    sr = made.json()["request_id"]
    assert made.json()["status"] == "pending" and len(made.json()["letter_sha256"]) == 64

    refused = call("POST", "/v1/shares", "aa.http", json=body(agency_type="federal", agency_ori="CAFBISF00"))
    assert refused.status_code == 403 and refused.json()["detail"].startswith("share refused: federal agency")
    assert call("POST", "/v1/shares", "aa.http", json=body(agency_ori="CA-1")).status_code == 422
    bad = call("POST", "/v1/shares", "aa.http", json=body(agency_ori="CA 001 09"))
    assert bad.status_code == 400 and "ORI" in bad.json()["detail"]
    assert call("POST", "/v1/shares", "ana.http", json=body()).status_code == 403

    assert call("GET", "/v1/shares/SR-NONE", "aa.http").status_code == 404
    assert call("GET", f"/v1/shares/{sr}/letter", "aa.http").content.startswith(b"From: rlane")
    assert call("POST", f"/v1/shares/{sr}/deny", "lt.http", json={"note": ""}).status_code == 403
    assert call("POST", f"/v1/shares/{sr}/approve", "lt.http", json={"note": "verified by phone"}).status_code == 200

    # two exports of one request at once: the second is refused while the first holds it
    desk = ShareDesk(access, cfg.policy, cfg.clickhouse.database)
    who = Caller(tokens["ana.http"], "127.0.0.1", purpose=PURPOSE)
    req, _ = desk.fulfil(who, sr)
    with pytest.raises(AccessDenied, match="being fulfilled by another export"):
        desk.fulfil(who, sr)
    desk.release(req)  # the first one could not save its package

    pkg = call("POST", f"/v1/shares/{sr}/fulfil", "ana.http", params={"purpose": PURPOSE})
    assert pkg.status_code == 200 and pkg.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(pkg.content)) as z:
        assert [r["read_id"] for r in json.loads(z.read("manifest.json"))["reads"]] == [read.read_id]
    assert call("POST", f"/v1/shares/{sr}/fulfil", "ana.http", params={"purpose": PURPOSE}).status_code == 403

    listed = call("GET", "/v1/shares", "aa.http", params={"status": "fulfilled"}).json()
    assert [(r["request_id"], r["reads_shared"], r["package_sha256"]) for r in listed] == \
        [(sr, 1, pkg.headers["x-package-sha256"])]
    report = call("GET", "/v1/shares/report", "aa.http",
                  params={"from": (NOW - timedelta(days=1)).isoformat(), "to": (NOW + timedelta(days=1)).isoformat()})
    assert report.json()["shares"][0]["shares"] == 1 and report.json()["refusals"][0]["code"] == "federal"
    assert "7ABC123" not in report.text
    assert access.audit.verify()[1] == []
