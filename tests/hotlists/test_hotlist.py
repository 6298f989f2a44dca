"""Hot lists on a real Redis: storage, encryption at rest, refresh, matching, expiry, rotation."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
import redis

from alpr.crypto import Keyring, generate_key_file
from alpr.domain.types import NewEntry
from alpr.hotlists.store import HotlistStore, list_key
from alpr.metrics import HOTLIST_AGE, HOTLIST_ENTRIES

pytestmark = pytest.mark.integration


@pytest.fixture
def store(cfg, keyring) -> HotlistStore:
    return HotlistStore(redis.Redis.from_url(cfg.redis.url), keyring)


def kinds(found, plate):
    return sorted((m.entry.list_name, m.entry.plate, m.kind) for m in found.get(plate, ()))


def test_replace_match_and_reveal(store):
    n = store.replace("stolen", [NewEntry("abc-1234", {"make": "Honda", "case": "C-77"}), NewEntry("XYZ999", {"make": "Ford"})])
    assert n == 2
    store.replace("bolo", [NewEntry("ABC1234", {"reason": "armed robbery"})])
    found = store.match(["ABC1234", "NOPE1", "XYZ999"])
    assert set(found) == {"ABC1234", "XYZ999"}
    assert kinds(found, "ABC1234") == [("bolo", "ABC1234", "exact"), ("stolen", "ABC1234", "exact")]
    stolen = next(m.entry for m in found["ABC1234"] if m.entry.list_name == "stolen")
    assert store.reveal(stolen) == {"make": "Honda", "case": "C-77"}
    assert store.lists()["stolen"]["entries"] == "2"
    [(entry, fields, _)] = store.show("stolen", "ABC 1234")
    assert entry.entry_id == stolen.entry_id and fields["case"] == "C-77"


def test_confusable_and_partial_matches(store):
    store.replace("stolen", [NewEntry("ABC1234", {"n": 1}), NewEntry("5OS123", {"n": 2})])
    store.replace("bolo", [NewEntry("7?K*", {"n": 3}), NewEntry("*Q9Q9", {"n": 4})])
    found = store.match(["A8C1234", "S05123", "7XK11", "ABC1234", "QQQ999"])
    assert kinds(found, "A8C1234") == [("stolen", "ABC1234", "confusable")]
    assert kinds(found, "ABC1234") == [("stolen", "ABC1234", "exact")]
    assert kinds(found, "S05123") == [("stolen", "5OS123", "confusable")]
    assert kinds(found, "7XK11") == [("bolo", "7?K*", "partial")]
    assert "QQQ999" not in found


def test_skip_list_and_expiry(store):
    store.replace("stolen", [NewEntry("000", {"n": 0}), NewEntry("ABC123", {"n": 1})])
    store.skip(["000"])
    assert set(store.match(["000", "ABC123"])) == {"ABC123"}
    now = datetime.now(timezone.utc)
    gone = store.add("bolo", NewEntry("BOLO11", {"r": "ended"}, expires_at=now - timedelta(minutes=1)))
    live = store.add("bolo", NewEntry("BOLO22", {"r": "live"}, expires_at=now + timedelta(days=1)))
    found = store.match(["BOLO11", "BOLO22"])
    assert [m.entry.entry_id for m in found.get("BOLO22", [])] == [live] and "BOLO11" not in found
    assert store.set_expiry("bolo", "BOLO22", live, now - timedelta(seconds=1))
    assert store.match(["BOLO22"]) == {}
    assert store.sweep_expired() == 2
    assert store.lists()["bolo"]["entries"] == "0"
    assert gone


def test_refresh_replaces_the_whole_list(store, cfg):
    store.replace("stolen", [NewEntry("OLD111", {"a": 1}), NewEntry("KEEP22", {"a": 2})])
    store.replace("stolen", [NewEntry("KEEP22", {"a": 3}), NewEntry("NEW333", {"a": 4})])
    found = store.match(["OLD111", "KEEP22", "NEW333"])
    assert set(found) == {"KEEP22", "NEW333"}
    assert store.reveal(found["KEEP22"][0].entry) == {"a": 3}
    r = redis.Redis.from_url(cfg.redis.url)
    assert r.keys("*staging*") == []
    assert r.ttl(list_key("stolen")) == -1  # the live list does not inherit the staging expiry


def test_readers_see_the_old_or_the_new_list_never_a_mix(store, cfg, keyring):
    old = [f"OLD{i:04d}" for i in range(3000)]
    new = [f"NEW{i:04d}" for i in range(3000)]
    store.replace("stolen", [NewEntry(p, {"i": i}) for i, p in enumerate(old)])
    probe = [old[0], old[-1], new[0], new[-1]]
    seen, stop = [], threading.Event()

    def reader():
        r = HotlistStore(redis.Redis.from_url(cfg.redis.url))
        while not stop.is_set():
            seen.append(frozenset(r.match(probe)))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(3):
            store.replace("stolen", [NewEntry(p, {"i": i}) for i, p in enumerate(new)])
            store.replace("stolen", [NewEntry(p, {"i": i}) for i, p in enumerate(old)])
    finally:
        stop.set()
        t.join()
    assert len(seen) > 10
    assert set(seen) <= {frozenset({old[0], old[-1]}), frozenset({new[0], new[-1]})}


def test_redis_holds_no_plaintext_except_the_plate(store, cfg):
    secrets = {"owner_note": "JOHN Q PUBLIC", "case": "CASE-0042", "vehicle": "Blue Toyota Camry"}
    store.replace("stolen", [NewEntry("ZZZ9876", secrets)])
    store.add("bolo", NewEntry("QQ?1234", {"reason": "Suspect: Jane Roe"}))
    r = redis.Redis.from_url(cfg.redis.url)
    dump = b""
    for k in r.keys("*"):
        t = r.type(k)
        dump += k + (b"".join(a + b for a, b in r.hgetall(k).items()) if t == b"hash" else
                     b"".join(r.smembers(k)) if t == b"set" else b"")
    assert b"ZZZ9876" in dump and b"QQ?1234" in dump
    for text in list(secrets.values()) + ["Jane Roe", "Toyota", "CASE-0042", "Suspect"]:
        assert text.encode() not in dump


def test_rotate_key_re_encrypts_in_place(store, cfg, tmp_path):
    key_file = tmp_path / "rot.key"
    generate_key_file(key_file)
    store.keyring = Keyring.load(key_file, environ={})
    store.replace("stolen", [NewEntry(f"ROT{i:03d}", {"i": i}) for i in range(50)])
    store.add("bolo", NewEntry("RO?99*", {"r": "p"}))
    old_kid = store.keyring.current
    new_kid = generate_key_file(key_file)
    store.keyring = Keyring.load(key_file, environ={})
    assert store.rotate() == 51
    # only the new key remains needed: drop the old one and everything still opens
    key_file.write_text("".join(line + "\n" for line in key_file.read_text().splitlines() if not line.startswith(old_kid)))
    store.keyring = Keyring.load(key_file, environ={})
    found = store.match(["ROT007", "RO199Z"])
    assert store.reveal(found["ROT007"][0].entry) == {"i": 7}
    assert store.reveal(found["RO199Z"][0].entry) == {"r": "p"}
    assert all(m.entry.sealed["kid"] == new_kid for ms in found.values() for m in ms)
    assert store.lists()["stolen"]["entries"] == "50"


def test_list_size_and_age_are_exposed(store):
    store.replace("warrants", [NewEntry("WAR123", {"w": 1})])
    store.match(["WAR123"])
    assert HOTLIST_ENTRIES.labels("warrants")._value.get() == 1
    assert 0 <= HOTLIST_AGE.labels("warrants")._value.get() < 60


def test_rotation_keeps_an_entry_added_during_the_rewrite(store, cfg, tmp_path):
    key_file = tmp_path / "race.key"
    generate_key_file(key_file)
    store.keyring = Keyring.load(key_file, environ={})
    store.replace("stolen", [NewEntry(f"RACE{i:02d}", {"i": i}) for i in range(10)])
    new_kid = generate_key_file(key_file)
    store.keyring = Keyring.load(key_file, environ={})
    dispatcher = HotlistStore(redis.Redis.from_url(cfg.redis.url), store.keyring)
    rewrite, raced = store._resealed, []

    def racing_rewrite(list_name, target, counted):
        # A dispatcher adds an entry after the plates were read and staged, before the swap.
        if target.endswith(":patterns") and not raced:
            raced.append(dispatcher.add("stolen", NewEntry("LATE999", {"late": True})))
        yield from rewrite(list_name, target, counted)

    store._resealed = racing_rewrite
    assert store.rotate() == 11
    found = store.match(["LATE999", "RACE03"])
    assert [m.entry.entry_id for m in found["LATE999"]] == raced
    assert {m.entry.sealed["kid"] for ms in found.values() for m in ms} == {new_kid}
    assert store.lists()["stolen"]["entries"] == "11"


def test_entries_and_skipped_plates_keep_who_added_them_and_when(store):
    before = int(datetime.now(timezone.utc).timestamp())
    store.replace("stolen", [NewEntry("ABC123", {"case": "C1"})], by="adm.lee")
    bolo = store.add("stolen", NewEntry("ABC123", {"case": "C2"}), by="disp.kim")
    assert sorted((f["case"], a["added_by"]) for _, f, a in store.show("stolen", "ABC123")) == [
        ("C1", "adm.lee"), ("C2", "disp.kim")]
    assert all(datetime.fromisoformat(a["added_at"]).timestamp() >= before for _, _, a in store.show("stolen", "ABC123"))
    store.skip(["000"], by="apr.ng")
    assert store.skipped_by()["000"]["added_by"] == "apr.ng"
    assert store.remove("stolen", "ABC123", bolo) == [bolo]  # the ids that went, for the audit record
    store.unskip(["000"])
    assert store.skipped_by() == {} and not store.redis.hlen("alpr:skiplist-added")


def test_a_cad_system_decrypts_a_hit_entry_as_the_hit_schema_documents(store, tmp_path):
    """The recipe in infra/schemas/hit.v1.json (entry_sealed), followed with the cryptography library
    alone: a consumer outside this code base can open what a hit carries, and only for its entry."""
    import base64
    import json

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    store.replace("stolen", [NewEntry("7ABC123", {"case": "C-42", "vehicle": "blue Civic"})])
    entry = store.match(["7ABC123"])["7ABC123"][0].entry
    key_line = next(line for line in (tmp_path / "hotlist.key").read_text().splitlines()
                    if line.startswith(entry.sealed["kid"]))  # the keyring fixture's file
    key = base64.b64decode(key_line.split()[1])
    nonce, ct = base64.b64decode(entry.sealed["nonce"]), base64.b64decode(entry.sealed["ct"])
    aad = "\x1f".join((entry.list_name, entry.plate, entry.entry_id)).encode()
    assert json.loads(AESGCM(key).decrypt(nonce, ct, aad)) == {"case": "C-42", "vehicle": "blue Civic"}
    with pytest.raises(InvalidTag):  # moved to another plate, the fields do not open
        AESGCM(key).decrypt(nonce, ct, "\x1f".join((entry.list_name, "7ABC124", entry.entry_id)).encode())


def test_the_issuing_state_is_kept_beside_the_plate_and_reaches_the_match(store, cfg):
    import orjson

    from alpr.compliance.rules import record_problems
    from alpr.domain.matching import fold

    store.replace("stolen", [NewEntry("ABC1234", {"case": "C-1"}, state="MT"), NewEntry("ABC1234", {"case": "C-2"}),
                             NewEntry("XYZ999", {"case": "C-3"}, state="CO")])
    store.add("bolo", NewEntry("ABC1234", {"reason": "robbery"}, state="CO"), by="d.ng")
    found = store.match(["ABC1234"])
    assert sorted((m.entry.list_name, m.entry.state) for m in found["ABC1234"]) == [
        ("bolo", "CO"), ("stolen", ""), ("stolen", "MT")]
    raw = redis.Redis.from_url(cfg.redis.url).hget(list_key("stolen"), fold("ABC1234"))
    records = orjson.loads(raw)
    assert sorted(r.get("st", "") for r in records) == ["", "MT"]
    assert all(record_problems(r) == [] for r in records)  # the state in clear is the only field beside the plate
    assert b"C-1" not in raw and b"C-2" not in raw
    store.rotate()  # re-sealing keeps the state
    assert sorted(m.entry.state for m in store.match(["ABC1234"])["ABC1234"]) == ["", "CO", "MT"]
