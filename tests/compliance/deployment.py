"""A small deployment that keeps every rule the compliance report checks, on the test's real chDB,
Redis and key files, and the `alpr` command with `compliance` registered."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import redis

from alpr.crypto import Keyring, generate_key_file
from alpr.domain.sharing import ShareRequest
from alpr.domain.types import NewEntry
from alpr.hotlists.store import HotlistStore
from alpr.store import db, evidence
from alpr.store.dispositions import HIT_COLUMNS, STEP_COLUMNS
from alpr.store.shares import ShareStore
from tests.conftest import logged_on
from tests.store.test_storage import make_read, store

AUDITOR = "aud.kahn"
NOW = datetime.now(timezone.utc)


def hit_row(hit_id: str, published_at: datetime) -> list:
    values = {"hit_id": hit_id, "read_id": f"r-{hit_id}", "camera_id": "fixed-01", "captured_at": published_at,
              "plate": "7ABC123", "matched_plate": "7ABC123", "list_plate": "7ABC123", "list_name": "stolen",
              "entry_id": "e1", "match_kind": "exact", "read_state": "CA", "state_confidence": 0.97, "list_state": "CA",
              "state_match": "same", "published_at": published_at}
    return [values[c] for c in HIT_COLUMNS]


def share(request_id: str, **changes) -> ShareRequest:
    base = ShareRequest(request_id, NOW - timedelta(days=3), "rec.ada", "Oakland Police Department", "CA0010900",
                        "police", "CA", "Sgt. Lee", "Sergeant", "lee@oaklandpd.example", "stolen vehicle follow-up",
                        "OPD-26-555", NOW - timedelta(days=5), NOW - timedelta(days=4), plates=("7ABC123",),
                        letter_name="request.pdf", letter_sha256="ab" * 32)
    return ShareRequest(**{**base.__dict__, **changes})


def compliant(cfg) -> dict:
    """Reads (one held for a case), a sealed hot list, a disposed old hit and a fresh one, a share
    approved before it was sent, and current users; returns the handles the tests break it with."""
    client = db.connect(cfg)
    db.migrate(client, cfg)
    d = cfg.clickhouse.database
    r = redis.Redis.from_url(cfg.redis.url)
    reads = [make_read("7ABC123", NOW - timedelta(days=3, minutes=i), n=i) for i in range(3)]
    store(client, cfg, reads)
    evidence.hold(client, d, "26-100", "det.ortiz", "robbery trial", read_ids=[reads[0].read_id])
    generate_key_file(cfg.hotlist_key_path)
    hotlists = HotlistStore(r, Keyring.load(cfg.hotlist_key_path, environ={}))
    hotlists.replace("stolen", [NewEntry("7ABC123", {"reason": "stolen vehicle", "owner": "Jo Doe"}),
                                NewEntry("8XYZ98*", {"reason": "robbery suspect"})], by="lt.ross")
    old, fresh = NOW - timedelta(hours=30), NOW - timedelta(hours=1)
    client.insert(f"{d}.hits", [hit_row("a1" * 16, old), hit_row("b2" * 16, fresh)], column_names=HIT_COLUMNS)
    step = {"hit_id": "a1" * 16, "step": 1, "at": old + timedelta(minutes=1), "action": "confirm_not_misread",
            "state": "not_misread", "username": "disp.ada", "role": "dispatcher", "client_ip": "10.0.0.5", "note": "",
            "fields": "{}"}
    client.insert(f"{d}.hit_dispositions", [[step[c] for c in STEP_COLUMNS]], column_names=STEP_COLUMNS)
    shares = ShareStore(client, d)
    req = shares.put(share("SR-20261201-000001"))
    req = shares.put(ShareRequest(**{**req.__dict__, "status": "approved", "decided_by": "lt.ross",
                                     "decided_at": NOW - timedelta(days=2)}))
    shares.put(ShareRequest(**{**req.__dict__, "status": "fulfilled", "fulfilled_by": "ana.berg",
                               "fulfilled_at": NOW - timedelta(days=1), "export_id": "x1" * 16, "reads_shared": 3}))
    token = logged_on(cfg, AUDITOR, "auditor")
    return {"client": client, "db": d, "redis": r, "reads": reads, "token": token}


def report(cli, capsys, *extra: str) -> tuple[int, dict]:
    """`alpr compliance report --json` as the auditor: (exit status, the report)."""
    capsys.readouterr()
    rc = cli("compliance", "report", "--json", *extra, user=AUDITOR)
    out = capsys.readouterr()
    assert out.out.startswith("{"), out.err
    return rc, json.loads(out.out)


def results(rep: dict) -> dict[str, str]:
    return {c["check"]: c["result"] for c in rep["checks"]}
