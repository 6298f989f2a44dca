"""Sharing on written request (policy 820.6) through the CLI, against chDB and Redis: the file of
requests, the refusals the policy makes, the approver's rules, the package sent, and its audit."""

import csv
import io
import json
import zipfile
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
import redis

from alpr.access.gate import Access
from alpr.domain import passwords
from alpr.store import db, retention
from alpr.store.shares import ShareStore
from alpr.store.users import User
from tests.conftest import PASSWORD
from tests.store.test_storage import HOME, Location, make_read, store

pytestmark = pytest.mark.integration

TODAY = date.today()
NOW = datetime.now(timezone.utc)
OAKLAND = Location(37.8044, -122.2712)  # ~13 km from HOME
PURPOSE = ("--purpose", "records request from Oakland PD, approved")


@pytest.fixture
def desk(cfg, cli):
    """The people of the request file, each logged on through the CLI; returns the access gate."""
    client = db.connect(cfg)
    db.migrate(client, cfg)
    access = Access(cfg, client, redis.Redis.from_url(cfg.redis.url))
    for name, role, rank, org in (("aa.kim", "records", "", "City PD"), ("lt.ross", "approver", "watch_commander", "City PD"),
                                  ("lt.opd", "approver", "division_commander", "Oakland Police Department"),
                                  ("ana.berg", "analyst", "", "City PD"), ("aud.kahn", "auditor", "", "City PD"),
                                  ("disp.lee", "dispatcher", "", "City PD")):
        access.users.put(User(name, name.title(), org, role, rank=rank, password_hash=passwords.hash_password(PASSWORD),
                              trained_at=TODAY, certified_until=TODAY + timedelta(days=90), policy_reviewed_at=TODAY))
        assert cli.login(name) == 0
    return access


def request(cli, capsys, tmp_path, *extra: str, agency: str = "Oakland Police Department", ori: str = "CA0010900",
            kind: str = "police", state: str = "CA", since: datetime = NOW - timedelta(days=10),
            until: datetime = NOW - timedelta(hours=1), user: str = "aa.kim") -> tuple[int, str, str]:
    letter = tmp_path / "letter.txt"
    letter.write_text(f"{agency} asks for the reads of a robbery suspect's car, case OPD-26-1187.")
    capsys.readouterr()
    rc = cli("share", "request", "add", "--agency", agency, "--ori", ori, "--agency-type", kind, "--state", state,
             "--requester", "Det. R. Lane", "--title", "Detective", "--contact", "rlane@oaklandpd.example",
             "--reason", "armed robbery suspect vehicle", "--case-number", "OPD-26-1187", "--from", since.isoformat(),
             "--to", until.isoformat(), "--letter", str(letter), *extra, user=user)
    out = capsys.readouterr()
    return rc, out.out.strip(), out.err


def newest(access: Access, action: str) -> dict:
    return next(r for r in access.audit.search(limit=50) if r["action"] == action)


def package(path) -> tuple[dict, dict, list[str]]:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("manifest.json")), json.loads(z.read("custody.json")), z.namelist()


def test_a_request_from_add_to_fulfil_through_the_cli(cfg, cli, desk, capsys, tmp_path):
    access = desk
    client, d = access.client, cfg.clickhouse.database
    inside = [make_read("7ABC123", NOW - timedelta(days=d_), n=d_) for d_ in (2, 3)]
    store(client, cfg, inside + [make_read("7ABC123", NOW - timedelta(days=40)), make_read("8XYZ999", NOW - timedelta(days=2))])

    rc, sr, _ = request(cli, capsys, tmp_path, "--plate", "7abc123")
    assert rc == 0 and sr.startswith("SR-")
    added = newest(access, "add_share_request")
    assert (added["outcome"], added["plates"], json.loads(added["terms"])["request"]) == ("allowed", ["7ABC123"], sr)

    # refused on receipt, recorded and audited with the reason: federal, out of state, private; no case
    refusals = {
        "federal": request(cli, capsys, tmp_path, "--plate", "7ABC123", agency="FBI San Francisco", ori="CAFBISF00",
                           kind="federal"),
        "out_of_state": request(cli, capsys, tmp_path, "--plate", "7ABC123", agency="Reno PD", ori="NV0160200",
                                state="NV"),
        "commercial": request(cli, capsys, tmp_path, "--plate", "7ABC123", agency="Acme Recovery", ori="CA999999X",
                              kind="commercial"),
        "beyond_retention": request(cli, capsys, tmp_path, "--plate", "7ABC123", since=NOW - timedelta(days=800)),
    }
    for code, (rc, _, err) in refusals.items():
        assert rc == 3 and "share refused" in err, (code, err)
        rec = newest(access, "add_share_request")
        assert rec["outcome"] == "denied" and rec["reason"].startswith("share refused"), rec
    store_ = ShareStore(client, d)
    assert sorted(r.refusal_code for r in store_.all(status="refused")) == sorted(refusals)

    # who may decide: not records, not the requesting agency's own commander, not twice
    assert cli("share", "request", "approve", sr, user="aa.kim") == 3
    assert "may not decide share request" in newest(access, "decide_share_request")["reason"]
    assert cli("share", "request", "approve", sr, user="lt.opd") == 3
    assert "requesting agency" in newest(access, "decide_share_request")["reason"]
    assert cli("share", "request", "fulfil", sr, "--out", "early.zip", *PURPOSE, user="ana.berg") == 3
    assert "only an approved request" in newest(access, "fulfil_share_request")["reason"]
    assert not (tmp_path / "early.zip").exists()
    assert cli("share", "request", "approve", sr, "--note", "letter checked with OPD", user="lt.ross") == 0
    assert cli("share", "request", "approve", sr, user="lt.ross") == 3
    approved = store_.get(sr)
    assert (approved.status, approved.decided_by, approved.decision_note) == ("approved", "lt.ross",
                                                                              "letter checked with OPD")

    # fulfil: a purpose, then the package of exactly what was asked, audited under the request's case
    assert cli("share", "request", "fulfil", sr, "--out", "share.zip", user="ana.berg") == 3
    assert cli("share", "request", "fulfil", sr, "--out", "share.zip", *PURPOSE, user="ana.berg") == 0
    manifest, custody, names = package(tmp_path / "share.zip")
    assert sorted(r["read_id"] for r in manifest["reads"]) == sorted(r.read_id for r in inside)
    assert (manifest["request_id"], manifest["case_id"]) == (sr, "OPD-26-1187")
    assert custody["request"]["decided_by"] == "lt.ross" and custody["request"]["agency_ori"] == "CA0010900"
    assert custody["export"]["exported_by"] == "ana.berg" and sr in custody["export"]["reason"]
    assert len([n for n in names if n.startswith("images/")]) == 4
    rec = newest(access, "fulfil_share_request")
    assert (rec["outcome"], rec["case_id"], rec["plates"], rec["rows"]) == ("allowed", "OPD-26-1187", ["7ABC123"], 2)
    assert json.loads(rec["terms"])["request"] == sr
    done = store_.get(sr)
    assert (done.status, done.fulfilled_by, done.reads_shared) == ("fulfilled", "ana.berg", 2)
    assert cli("evidence", "verify", "share.zip", "--recorded", user="ana.berg") == 0
    assert cli("share", "request", "fulfil", sr, "--out", "again.zip", *PURPOSE, user="ana.berg") == 3
    assert "was fulfilled" in newest(access, "fulfil_share_request")["reason"]

    # a denial states its reason
    rc, denied, _ = request(cli, capsys, tmp_path, "--plate", "8XYZ999")
    assert cli("share", "request", "deny", denied, "--reason", " ", user="lt.ross") == 3
    assert cli("share", "request", "deny", denied, "--reason", "no link to the robbery shown", user="lt.ross") == 0
    assert store_.get(denied).status == "denied"

    # the file: show with the letter, export as CSV and HTML (records), and the transparency report
    assert cli("share", "request", "show", sr, "--letter-out", "letter-copy.txt", user="aa.kim") == 0
    assert (tmp_path / "letter-copy.txt").read_text() == (tmp_path / "letter.txt").read_text()
    assert cli("share", "request", "list", "--csv", "file.csv", "--html", "file.html", user="aa.kim") == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "file.csv").read_text())))
    assert {r["request_id"] for r in rows} >= {sr, denied} and len(rows) == 6
    assert sr in (tmp_path / "file.html").read_text()
    assert cli("share", "request", "list", user="ana.berg") == 3  # analysts do not read the file
    capsys.readouterr()
    assert cli("share", "report", "--from", str(NOW - timedelta(days=31)), "--to", str(NOW + timedelta(days=1)),
               "--json", "--html", "transparency.html", user="aa.kim") == 0
    out = capsys.readouterr().out
    rep = json.loads(out)
    assert rep["shares"] == [{"month": f"{NOW:%Y-%m}", "agency": "Oakland Police Department", "ori": "CA0010900",
                              "shares": 1, "reads": 2}]
    assert {r["code"]: r["requests"] for r in rep["refusals"]} == {**{c: 1 for c in refusals}, "denied": 1}
    assert rep["requests_received"] == 6
    assert "7ABC123" not in out and "Lane" not in out and "7ABC123" not in (tmp_path / "transparency.html").read_text()

    # the file is kept apart from LPR data: retention never touches it; it has its own purge (records)
    retention.enforce(client, d, cfg.policy.retention_years, now=NOW + timedelta(days=3 * 365))
    assert len(store_.all()) == 6
    old = store_.put(replace(store_.get(denied), request_id="SR-OLD", received_at=NOW - timedelta(days=900),
                             decided_at=NOW - timedelta(days=899)))
    assert cli("share", "purge", user="ana.berg") == 3
    assert cli("share", "purge", user="aa.kim") == 0
    assert store_.get(old.request_id) is None and len(store_.all()) == 6
    assert access.audit.verify()[1] == []


def test_fulfil_never_includes_reads_outside_what_was_approved(cfg, cli, desk, capsys, tmp_path):
    client = desk.client
    since, until = NOW - timedelta(days=5), NOW - timedelta(days=1)
    wanted = [make_read("7ABC123", NOW - timedelta(days=3), n=1), make_read("8XYZ999", NOW - timedelta(days=2), n=2)]
    outside = [
        make_read("9OTHER9", NOW - timedelta(days=3), n=3),  # a plate not asked for
        make_read("7ABC123", NOW - timedelta(days=3), camera="cam-2", n=4),  # a camera not asked for
        make_read("7ABC123", NOW - timedelta(days=3), where=OAKLAND, n=5),  # outside the area
        make_read("7ABC123", since - timedelta(seconds=1), n=6),  # before the window
        make_read("8XYZ999", until, n=7),  # the window's end is not in it
        make_read("8XYZ999", NOW - timedelta(hours=2), n=8),  # after the window
    ]
    store(client, cfg, wanted + outside)
    rc, sr, _ = request(cli, capsys, tmp_path, "--plate", "7ABC123", "--plate", "8XYZ999", "--camera", "cam-1",
                        "--area", f"{HOME.latitude},{HOME.longitude},2000", since=since, until=until)
    assert rc == 0
    assert cli("share", "request", "approve", sr, user="lt.ross") == 0
    assert cli("share", "request", "fulfil", sr, "--out", "share.zip", *PURPOSE, user="ana.berg") == 0

    manifest, _, names = package(tmp_path / "share.zip")
    assert sorted(r["read_id"] for r in manifest["reads"]) == sorted(r.read_id for r in wanted)
    with zipfile.ZipFile(tmp_path / "share.zip") as z:
        text = b"".join(z.read(n) for n in names).decode(errors="replace")
        assert all(r.read_id not in text for r in outside)
        assert "9OTHER9" not in text
        assert z.read("manifest.csv").decode().count("\n") == 1 + len(wanted)
    assert newest(desk, "fulfil_share_request")["rows"] == len(wanted)
