"""`alpr hotlist ...` against a real Redis, with the access gate and audit log on chDB."""

import codecs
import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis

from alpr import config as config_mod
from alpr.access.gate import Access
from alpr.app.cli import main
from alpr.hotlists.store import HotlistStore
from alpr.store import db
from tests.conftest import logged_on
from tests.hotlists.test_hotlist_import import feed_line

pytestmark = pytest.mark.integration

CHANGE = ["--purpose", "hot-list upkeep"]


@pytest.fixture
def env(cfg, monkeypatch, tmp_path):
    """The CLI pointed at the test's services, as an admin (who may make every hot-list change)."""
    key_file = tmp_path / "cli.key"
    monkeypatch.setenv("ALPR_DATA_DIR", cfg.data_dir)
    monkeypatch.setenv("ALPR_REDIS__URL", cfg.redis.url)
    monkeypatch.setenv("ALPR_HOTLIST__KEY_FILE", str(key_file))
    monkeypatch.delenv("ALPR_HOTLIST_KEY", raising=False)
    monkeypatch.setenv("ALPR_CLICKHOUSE__DATABASE", cfg.clickhouse.database)
    monkeypatch.setenv("ALPR_SESSION", logged_on(cfg, "adm.test", "admin"))
    assert main(["hotlist", "keygen"]) == 0
    return config_mod.load()


def as_user(monkeypatch, cfg, username: str, role: str) -> None:
    monkeypatch.setenv("ALPR_SESSION", logged_on(cfg, username, role))


def audit(cfg, action: str) -> list[dict]:
    """The audit records of one action, newest first, terms decoded."""
    rows = Access(cfg, db.connect(cfg), redis.Redis.from_url(cfg.redis.url)).audit.search(action=action)
    return [{**r, "terms": json.loads(r["terms"]) if isinstance(r["terms"], str) else r["terms"]} for r in rows]


def test_csv_import_reports_bad_rows_and_loads_the_rest(env, tmp_path, capsys):
    f = tmp_path / "stolen.csv"
    f.write_text("plate,make,case\nABC123,Honda,C1\n,Ford,C2\nDEF456,Kia\nGHI789,Ford,C4\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f), "--json", *CHANGE]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1]) | {"seconds": 0} == {
        "list": "stolen", "rows": 4, "loaded": 2, "skipped": 2, "altered": 0, "seconds": 0}
    assert "stolen.csv:3: skipped" in err and "stolen.csv:4: skipped" in err
    assert "Honda" not in out + err  # fields are never echoed
    [rec] = audit(env, "edit_hotlist")
    assert rec["outcome"] == "allowed" and rec["username"] == "adm.test" and rec["rows"] == 2
    assert rec["terms"]["list"] == "stolen" and rec["terms"]["file"] == "stolen.csv" and len(rec["terms"]["sha256"]) == 64


def test_strict_import_loads_nothing_on_a_bad_row(env, tmp_path):
    f = tmp_path / "stolen.csv"
    f.write_text("plate,make\nAAA111,Honda\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f), *CHANGE]) == 0
    f.write_text("plate,make\nBBB222,Honda\n,Ford\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f), "--strict", *CHANGE]) == 1
    r = redis.Redis.from_url(env.redis.url)
    assert r.hkeys("alpr:hotlist:stolen") == [b"AAA111"]  # the old list is untouched


def test_state_feed_import_show_and_remove(env, tmp_path, capsys, monkeypatch):
    f = tmp_path / "feed.txt"
    f.write_text("\n".join([feed_line(), feed_line(plate="8XYZ999", reason="SP"), feed_line(reason="??")]) + "\n")
    assert main(["hotlist", "import", "--list", "state", "--format", "state", str(f), *CHANGE]) == 0
    capsys.readouterr()
    as_user(monkeypatch, env, "disp.test", "dispatcher")  # admins may change lists but not read entries
    assert main(["hotlist", "show", "--list", "state", "7ABC123", "--purpose", "hit follow-up"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["vehicle_make"] == "HOND" and row["reason"] == "stolen vehicle" and row["added_by"] == "adm.test"
    assert row["plate_state"] == "CA"
    assert main(["hotlist", "show", "--list", "state", "7ABC123"]) == 3  # no purpose: refused, and audited
    assert "purpose is required" in capsys.readouterr().err
    as_user(monkeypatch, env, "adm.test", "admin")
    assert main(["hotlist", "remove", "--list", "state", "7ABC123", *CHANGE]) == 0
    as_user(monkeypatch, env, "disp.test", "dispatcher")
    assert main(["hotlist", "show", "--list", "state", "7ABC123", "--purpose", "hit follow-up"]) == 1


def test_add_bolo_pattern_expire_and_skip(env, capsys):
    assert main(["hotlist", "add", "--list", "bolo", "7?K*", "--field", "reason=robbery",
                 "--expires", "2999-01-01T00:00:00", *CHANGE]) == 0
    entry_id = capsys.readouterr().out.split()[-1]
    assert main(["hotlist", "expire", "--list", "bolo", "--plate", "7?K*", "--entry", entry_id,
                 "--at", "2000-01-01T00:00:00", *CHANGE]) == 0
    assert main(["hotlist", "expire", "--sweep", *CHANGE]) == 0
    assert "removed 1 expired" in capsys.readouterr().out
    assert main(["hotlist", "skip", "add", "000", "DEALER", *CHANGE]) == 0
    assert [line.split()[:4] for line in capsys.readouterr().out.splitlines()] == [
        ["000", "added", "by", "adm.test"], ["DEALER", "added", "by", "adm.test"]]
    assert main(["hotlist", "lists", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bolo"]["entries"] == "0"
    assert main(["hotlist", "add", "--list", "bolo", "ABC123", "--expires", "2000-01-01", *CHANGE]) == 2


def test_rotate_key_command(env, tmp_path, capsys, monkeypatch):
    f = tmp_path / "s.csv"
    f.write_text("plate,case\nROT111,C1\nROT222,C2\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f), *CHANGE]) == 0
    assert main(["hotlist", "rotate-key"]) == 0
    assert "re-encrypted 2 entries" in capsys.readouterr().out
    as_user(monkeypatch, env, "disp.test", "dispatcher")
    assert main(["hotlist", "show", "--list", "stolen", "ROT222", "--purpose", "key rotation check"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["case"] == "C2"
    [rotated, _] = audit(env, "manage_hotlist_keys")  # rotate-key, then the fixture's keygen
    assert rotated["terms"]["command"] == "rotate-key" and rotated["rows"] == 2 and rotated["terms"]["key_id"]


# -- the gate: every change needs a permitted session and is audited ------------------------------------

CHANGES = [  # (argv, action)
    (["hotlist", "add", "--list", "bolo", "GATE123", *CHANGE], "add_hotlist_entry"),
    (["hotlist", "remove", "--list", "stolen", "KEEP111", *CHANGE], "edit_hotlist"),
    (["hotlist", "expire", "--list", "stolen", "--plate", "KEEP111", "--entry", "e1", "--at", "2000-01-01", *CHANGE],
     "edit_hotlist"),
    (["hotlist", "expire", "--sweep", *CHANGE], "edit_hotlist"),
    (["hotlist", "skip", "add", "KEEP111", *CHANGE], "edit_skip_list"),
    (["hotlist", "skip", "remove", "KEEP111", *CHANGE], "edit_skip_list"),
    (["hotlist", "import", "--list", "stolen", "{csv}", *CHANGE], "edit_hotlist"),
    (["hotlist", "keygen"], "manage_hotlist_keys"),
    (["hotlist", "rotate-key"], "manage_hotlist_keys"),
]


@pytest.fixture
def loaded(env, tmp_path):
    """A stolen list holding KEEP111, and a CSV that would replace it."""
    f = tmp_path / "new.csv"
    f.write_text("plate\nKEEP111\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f), *CHANGE]) == 0
    f.write_text("plate\nNEW999\n")
    return str(f)


def snapshot(cfg) -> dict:
    r = redis.Redis.from_url(cfg.redis.url)
    return {k.decode(): r.dump(k) for k in r.keys("alpr:*list*")} | {"key": Path(cfg.hotlist_key_path).read_text()}


@pytest.mark.parametrize("argv,action", CHANGES, ids=[" ".join(a[1:3]) for a, _ in CHANGES])
def test_a_change_without_a_session_is_refused_and_audited(loaded, monkeypatch, capsys, argv, action):
    cfg = config_mod.load()
    before = snapshot(cfg)
    monkeypatch.setenv("ALPR_SESSION", "no-session")
    assert main([a.replace("{csv}", loaded) for a in argv]) == 3
    assert "not logged on" in capsys.readouterr().err
    assert snapshot(cfg) == before  # nothing changed
    denied = audit(cfg, action)[0]
    assert denied["outcome"] == "denied" and denied["username"] == "" and "not logged on" in denied["reason"]


def test_the_skip_list_cannot_be_used_to_silence_a_hit_without_logon(loaded, monkeypatch):
    cfg = config_mod.load()
    monkeypatch.setenv("ALPR_SESSION", "no-session")
    assert main(["hotlist", "skip", "add", "KEEP111"]) == 3
    assert "KEEP111" in HotlistStore(redis.Redis.from_url(cfg.redis.url)).match(["KEEP111"])
    [denied] = audit(cfg, "edit_skip_list")
    assert denied["plates"] == ["KEEP111"] and denied["terms"]["plates"] == ["KEEP111"]


def test_a_permitted_change_names_user_list_plate_and_entry(env, monkeypatch, capsys):
    as_user(monkeypatch, env, "disp.test", "dispatcher")  # dispatchers enter BOLOs by hand
    assert main(["hotlist", "add", "--list", "bolo", "abc-123", "--field", "reason=robbery", *CHANGE]) == 0
    entry_id = capsys.readouterr().out.split()[-1]
    [added] = audit(env, "add_hotlist_entry")
    assert (added["outcome"], added["username"], added["role"], added["plates"], added["purpose"]) == (
        "allowed", "disp.test", "dispatcher", ["ABC123"], "hot-list upkeep")
    assert added["terms"] | {"ref": ""} == {"list": "bolo", "plate": "ABC123", "entry_id": entry_id,
                                            "fields": ["reason"], "expires": "", "ref": ""}
    [rec] = json.loads(redis.Redis.from_url(env.redis.url).hget("alpr:hotlist:bolo", "A8C123"))
    assert rec["id"] == entry_id and rec["by"] == "disp.test"
    assert abs(rec["at"] - datetime.now(timezone.utc).timestamp()) < 60
    assert "robbery" not in json.dumps(added, default=str)  # sealed fields stay out of the audit log

    as_user(monkeypatch, env, "adm.test", "admin")
    assert main(["hotlist", "remove", "--list", "bolo", "ABC123", *CHANGE]) == 0
    [removed] = audit(env, "edit_hotlist")
    assert (removed["username"], removed["plates"], removed["terms"]["entry_ids"]) == ("adm.test", ["ABC123"], [entry_id])


@pytest.mark.parametrize("role,argv,why", [
    ("officer", ["hotlist", "add", "--list", "bolo", "ABC123", *CHANGE], "role officer may not add hotlist entry"),
    ("dispatcher", ["hotlist", "remove", "--list", "stolen", "KEEP111", *CHANGE], "role dispatcher may not edit hotlist"),
    ("dispatcher", ["hotlist", "skip", "add", "KEEP111", *CHANGE], "role dispatcher may not edit skip list"),
    ("it_staff", ["hotlist", "import", "--list", "stolen", "{csv}", *CHANGE], "role it_staff may not edit hotlist"),
    ("analyst", ["hotlist", "rotate-key"], "role analyst may not manage hotlist keys"),
    ("admin", ["hotlist", "skip", "add", "KEEP111"], "a purpose is required"),
])
def test_a_role_not_allowed_is_refused(loaded, monkeypatch, capsys, role, argv, why):
    cfg = config_mod.load()
    before = snapshot(cfg)
    as_user(monkeypatch, cfg, f"{role}.test", role)
    assert main([a.replace("{csv}", loaded) for a in argv]) == 3
    assert why in capsys.readouterr().err
    assert snapshot(cfg) == before
    denied = max((r for a in ("add_hotlist_entry", "edit_hotlist", "edit_skip_list", "manage_hotlist_keys")
                  for r in audit(cfg, a)), key=lambda r: r["seq"])
    assert (denied["outcome"], denied["username"], denied["reason"]) == ("denied", f"{role}.test", why)


def test_it_staff_may_manage_keys(env, monkeypatch):
    as_user(monkeypatch, env, "it.test", "it_staff")
    assert main(["hotlist", "keygen"]) == 0
    assert len(env.hotlist_key_path.read_text().splitlines()) == 2


# -- import: encodings, long fields, ended entries, altered plates, progress ------------------------------

def test_a_utf8_bom_and_utf16_are_read(env, tmp_path, capsys, monkeypatch):
    f = tmp_path / "bom.csv"
    f.write_bytes(codecs.BOM_UTF8 + "plate,owner\nBOM111,J\u00f6rg\n".encode())
    assert main(["hotlist", "import", "--list", "stolen", str(f), *CHANGE]) == 0
    f.write_bytes("plate,owner\nUTF222,J\u00f6rg\n".encode("utf-16"))
    assert main(["hotlist", "import", "--list", "warrants", str(f), *CHANGE]) == 0
    capsys.readouterr()
    as_user(monkeypatch, env, "disp.test", "dispatcher")
    assert main(["hotlist", "show", "--list", "warrants", "UTF222", "--purpose", "checking the imported owner"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["owner"] == "J\u00f6rg"


def test_latin1_is_refused_unless_named(env, tmp_path, capsys, monkeypatch):
    f = tmp_path / "latin.csv"
    f.write_bytes("plate,owner\nLAT111,J\u00f6rg\n".encode("latin-1"))
    assert main(["hotlist", "import", "--list", "stolen", str(f), *CHANGE]) == 2
    assert "latin.csv: not UTF-8 at byte 20 (line 2): give --encoding latin-1" in capsys.readouterr().err
    assert not redis.Redis.from_url(env.redis.url).exists("alpr:hotlist:stolen")
    assert main(["hotlist", "import", "--list", "stolen", str(f), "--encoding", "latin-1", *CHANGE]) == 0
    assert main(["hotlist", "import", "--list", "stolen", str(f), "--encoding", "klingon", *CHANGE]) == 2
    capsys.readouterr()
    as_user(monkeypatch, env, "disp.test", "dispatcher")
    assert main(["hotlist", "show", "--list", "stolen", "LAT111", "--purpose", "checking the imported owner"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["owner"] == "J\u00f6rg"


def test_long_fields_ended_entries_and_altered_plates_are_reported_by_line(env, tmp_path, capsys):
    f = tmp_path / "odd.csv"
    huge = "x" * (csv.field_size_limit() + 1)
    f.write_text(f"plate,note,expires\nOK1111,fine,\nLONG22,{huge},\nOLD333,ended,2001-01-01\nbad plate!!,odd,\n")
    report = tmp_path / "report.tsv"
    assert main(["hotlist", "import", "--list", "stolen", str(f), "--report", str(report), "--json", *CHANGE]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["loaded"] == 2 and json.loads(out)["skipped"] == 2 and json.loads(out)["altered"] == 1
    assert f"odd.csv:3: skipped: a field is longer than {csv.field_size_limit()} characters" in err
    assert "odd.csv:4: skipped as ended: entry for OLD333 ended at 2001-01-01" in err
    assert "odd.csv:5: altered: plate 'bad plate!!' loaded as 'BADPLATE'" in err
    assert [line.split("\t")[:2] for line in report.read_text().splitlines()] == [
        ["line", "kind"], ["3", "skipped"], ["4", "skipped as ended"], ["5", "altered"]]
    assert sorted(redis.Redis.from_url(env.redis.url).hkeys("alpr:hotlist:stolen")) == [b"0K1111", b"8A0PLATE"]


def test_a_large_import_shows_progress(env, tmp_path, capsys):
    f = tmp_path / "big.csv"
    f.write_text("plate,expires\n" + "OLD111,2001-01-01\n" * 100_000 + "NEW222,\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f), *CHANGE]) == 0
    err = capsys.readouterr().err
    assert "big.csv: read 100,000 lines" in err and "... and 99980 more rows skipped as ended" in err


def test_an_entry_added_with_its_state_shows_it(env, capsys, monkeypatch):
    assert main(["hotlist", "add", "--list", "stolen", "5XYZ777", "--state", "Montana", "--field", "case=C-9", *CHANGE]) == 0
    assert main(["hotlist", "add", "--list", "stolen", "5XYZ778", "--state", "Atlantis", *CHANGE]) == 2
    assert "plate_state 'Atlantis' is not a US state code or name" in capsys.readouterr().err
    as_user(monkeypatch, env, "disp.test", "dispatcher")
    assert main(["hotlist", "show", "--list", "stolen", "5XYZ777", "--purpose", "hit follow-up"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["plate_state"] == "MT" and row["case"] == "C-9"
