"""`alpr hotlist ...` against a real Redis."""

import json

import pytest
import redis

from alpr.cli import main
from tests.conftest import logged_on
from tests.unit.test_hotlist_import import feed_line


@pytest.fixture
def env(cfg, keyring, monkeypatch, tmp_path):
    key_file = tmp_path / "cli.key"
    monkeypatch.setenv("ALPR_DATA_DIR", cfg.data_dir)
    monkeypatch.setenv("ALPR_REDIS__URL", cfg.redis.url)
    monkeypatch.setenv("ALPR_HOTLIST__KEY_FILE", str(key_file))
    monkeypatch.delenv("ALPR_HOTLIST_KEY", raising=False)
    monkeypatch.setenv("ALPR_CLICKHOUSE__DATABASE", cfg.clickhouse.database)
    monkeypatch.setenv("ALPR_SESSION", logged_on(cfg, "disp.test", "dispatcher"))
    assert main(["hotlist", "keygen"]) == 0
    return cfg


def test_csv_import_reports_bad_rows_and_loads_the_rest(env, tmp_path, capsys):
    f = tmp_path / "stolen.csv"
    f.write_text("plate,make,case\nABC123,Honda,C1\n,Ford,C2\nDEF456,Kia\nGHI789,Ford,C4\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1]) | {"seconds": 0} == {
        "list": "stolen", "rows": 4, "loaded": 2, "skipped": 2, "seconds": 0}
    assert "stolen.csv:3: skipped" in err and "stolen.csv:4: skipped" in err
    assert "Honda" not in out + err  # fields are never echoed


def test_strict_import_loads_nothing_on_a_bad_row(env, tmp_path):
    f = tmp_path / "stolen.csv"
    f.write_text("plate,make\nAAA111,Honda\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f)]) == 0
    f.write_text("plate,make\nBBB222,Honda\n,Ford\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f), "--strict"]) == 1
    r = redis.Redis.from_url(env.redis.url)
    assert r.hkeys("alpr:hotlist:stolen") == [b"AAA111"]  # the old list is untouched


def test_state_feed_import_show_and_remove(env, tmp_path, capsys):
    f = tmp_path / "feed.txt"
    f.write_text("\n".join([feed_line(), feed_line(plate="8XYZ999", reason="SP"), feed_line(reason="??")]) + "\n")
    assert main(["hotlist", "import", "--list", "state", "--format", "state", str(f)]) == 0
    capsys.readouterr()
    assert main(["hotlist", "show", "--list", "state", "7ABC123", "--purpose", "hit follow-up"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["vehicle_make"] == "HOND" and row["reason"] == "stolen vehicle"
    assert main(["hotlist", "show", "--list", "state", "7ABC123"]) == 3  # no purpose: refused, and audited
    assert "purpose is required" in capsys.readouterr().err
    assert main(["hotlist", "remove", "--list", "state", "7ABC123"]) == 0
    assert main(["hotlist", "show", "--list", "state", "7ABC123", "--purpose", "hit follow-up"]) == 1


def test_add_bolo_pattern_expire_and_skip(env, capsys):
    assert main(["hotlist", "add", "--list", "bolo", "7?K*", "--field", "reason=robbery",
                 "--expires", "2000-01-01T00:00:00"]) == 0
    assert main(["hotlist", "expire", "--sweep"]) == 0
    assert "removed 1 expired" in capsys.readouterr().out
    assert main(["hotlist", "skip", "add", "000", "DEALER"]) == 0
    assert capsys.readouterr().out.split() == ["000", "DEALER"]
    assert main(["hotlist", "lists", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bolo"]["entries"] == "0"


def test_rotate_key_command(env, tmp_path, capsys):
    f = tmp_path / "s.csv"
    f.write_text("plate,case\nROT111,C1\nROT222,C2\n")
    assert main(["hotlist", "import", "--list", "stolen", str(f)]) == 0
    assert main(["hotlist", "rotate-key"]) == 0
    assert "re-encrypted 2 entries" in capsys.readouterr().out
    assert main(["hotlist", "show", "--list", "stolen", "ROT222", "--purpose", "key rotation check"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["case"] == "C2"
