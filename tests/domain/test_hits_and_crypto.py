from datetime import datetime, timedelta, timezone

import pytest
from cryptography.exceptions import InvalidTag

from alpr.crypto import Keyring, UnknownKeyError, generate_key_file
from alpr.domain.hits import best_matches, hit_key, suppress_repeats
from alpr.domain.types import Box, FrameMeta, HotlistEntry, Location, Match, PlateRead

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
ENTRY = HotlistEntry("stolen", "e1", "ABC1234")
MATCH = Match("ABC1234", ENTRY, "exact")


def read_at(seconds: float, camera: str = "cam-1", plate: str = "ABC1234", candidates=()) -> PlateRead:
    meta = FrameMeta(camera, f"{camera}-{seconds}", T0 + timedelta(seconds=seconds), Location(0, 0))
    return PlateRead(f"r{seconds}", meta, plate, 0.9, Box(0, 0, 1, 1), b"", "test", tuple(candidates))


def test_first_match_is_a_hit_then_quiet_within_the_window():
    state, out = suppress_repeats(None, (read_at(0), MATCH), 60)
    assert len(out) == 1 and out[0].read.read_id == "r0"
    for s in (1, 5, 59):
        state, out = suppress_repeats(state, (read_at(s), MATCH), 60)
        assert out == []
    state, out = suppress_repeats(state, (read_at(200), MATCH), 60)
    assert len(out) == 1 and out[0].read.read_id == "r200"


def test_hit_ids_are_deterministic_and_keys_separate_cameras():
    _, a = suppress_repeats(None, (read_at(0), MATCH), 60)
    _, b = suppress_repeats(None, (read_at(0), MATCH), 60)
    assert a[0].hit_id == b[0].hit_id
    assert hit_key(read_at(0, "cam-1"), MATCH) != hit_key(read_at(0, "cam-2"), MATCH)
    # a misread of the same car on the same camera is the same hit key
    assert hit_key(read_at(0, plate="A8C1234"), Match("A8C1234", ENTRY, "confusable")) == hit_key(read_at(0), MATCH)


def test_best_match_per_entry_prefers_strong_kinds_then_the_read_itself():
    other = HotlistEntry("bolo", "b1", "AB?1234")
    read = read_at(0, plate="A8C1234", candidates=("ABC1234",))
    found = {
        "A8C1234": [Match("A8C1234", ENTRY, "confusable"), Match("A8C1234", other, "partial")],
        "ABC1234": [Match("ABC1234", ENTRY, "exact"), Match("ABC1234", other, "partial")],
    }
    best = best_matches(read, found)
    assert [(m.entry.entry_id, m.kind, m.plate) for m in best] == [("e1", "exact", "ABC1234"), ("b1", "partial", "A8C1234")]
    assert best_matches(read_at(0, plate="ZZZ999"), found) == []


def test_hits_carry_kind_and_matched_plate():
    _, (hit,) = suppress_repeats(None, (read_at(0, plate="A8C1234"), Match("A8C1234", ENTRY, "confusable")), 60)
    assert (hit.match, hit.matched_plate, hit.entry.plate) == ("confusable", "A8C1234", "ABC1234")


def test_seal_and_open(tmp_path):
    path = tmp_path / "k"
    generate_key_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ring = Keyring.load(path, environ={})
    sealed = ring.seal({"case": "C-1", "make": "Honda"}, b"aad")
    assert "Honda" not in str(sealed) and "C-1" not in str(sealed)
    assert ring.open(sealed, b"aad") == {"case": "C-1", "make": "Honda"}
    with pytest.raises(InvalidTag):
        ring.open(sealed, b"moved to another plate")
    key_text = path.read_text().split()[1]
    assert key_text not in repr(ring)


def test_rotation_keeps_old_records_readable(tmp_path):
    path = tmp_path / "k"
    generate_key_file(path)
    old = Keyring.load(path, environ={})
    sealed = old.seal({"a": 1}, b"x")
    path.write_text(path.read_text() + "k2 " + "A" * 43 + "=\n")
    new = Keyring.load(path, environ={})
    assert new.current == "k2"
    assert new.open(sealed, b"x") == {"a": 1}
    with pytest.raises(UnknownKeyError):
        Keyring.parse("k9 " + "A" * 43 + "=").open(sealed, b"x")


def test_environment_key_wins(tmp_path):
    ring = Keyring.load(tmp_path / "absent", environ={"ALPR_HOTLIST_KEY": "envkey:" + "B" * 43 + "="})
    assert ring.current == "envkey"
    with pytest.raises(FileNotFoundError, match="alpr hotlist keygen"):
        Keyring.load(tmp_path / "absent", environ={})
