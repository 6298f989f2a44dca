import redis

from alpr.hotlist import HotlistStore, list_key


def test_replace_lookup_and_reveal(cfg, keyring):
    store = HotlistStore(redis.Redis.from_url(cfg.redis.url), keyring)
    n = store.replace("stolen", [("abc-1234", {"make": "Honda", "case": "C-77"}), ("XYZ999", {"make": "Ford"})])
    assert n == 2
    store.replace("bolo", [("ABC1234", {"reason": "armed robbery"})])
    found = store.lookup(["ABC1234", "NOPE1", "XYZ999"])
    assert sorted((e.list_name, e.plate) for es in found.values() for e in es) == [
        ("bolo", "ABC1234"), ("stolen", "ABC1234"), ("stolen", "XYZ999")]
    stolen = next(e for e in found["ABC1234"] if e.list_name == "stolen")
    assert store.reveal(stolen) == {"make": "Honda", "case": "C-77"}
    assert set(store.lists()) == {"stolen", "bolo"}
    assert store.lists()["stolen"]["entries"] == "2"


def test_refresh_replaces_the_whole_list(cfg, keyring):
    store = HotlistStore(redis.Redis.from_url(cfg.redis.url), keyring)
    store.replace("stolen", [("OLD111", {"a": 1}), ("KEEP22", {"a": 2})])
    store.replace("stolen", [("KEEP22", {"a": 3}), ("NEW333", {"a": 4})])
    found = store.lookup(["OLD111", "KEEP22", "NEW333"])
    assert set(found) == {"KEEP22", "NEW333"}
    assert store.reveal(found["KEEP22"][0]) == {"a": 3}
    # no staging leftovers, and the live list does not inherit the staging key's expiry
    r = redis.Redis.from_url(cfg.redis.url)
    assert r.keys("*staging*") == []
    assert r.ttl(list_key("stolen")) == -1


def test_redis_holds_no_plaintext_except_the_plate(cfg, keyring):
    store = HotlistStore(redis.Redis.from_url(cfg.redis.url), keyring)
    secrets = {"owner_note": "JOHN Q PUBLIC", "case": "CASE-0042", "vehicle": "Blue Toyota Camry"}
    store.replace("stolen", [("ZZZ9876", secrets)])
    store.add("bolo", "QQQ1234", {"reason": "Suspect: Jane Roe"})
    r = redis.Redis.from_url(cfg.redis.url)
    dump = b"".join(
        k + b"".join(a + b for a, b in r.hgetall(k).items()) if r.type(k) == b"hash" else k for k in r.keys("*")
    )
    assert b"ZZZ9876" in dump and b"QQQ1234" in dump
    for text in list(secrets.values()) + ["Jane Roe", "Toyota", "CASE-0042"]:
        assert text.encode() not in dump


def test_add_appends_to_an_existing_plate(cfg, keyring):
    store = HotlistStore(redis.Redis.from_url(cfg.redis.url), keyring)
    store.add("bolo", "AAA111", {"n": 1})
    store.add("bolo", "aaa-111", {"n": 2})
    entries = store.lookup(["AAA111"])["AAA111"]
    assert sorted(store.reveal(e)["n"] for e in entries) == [1, 2]
    assert redis.Redis.from_url(cfg.redis.url).hlen(list_key("bolo")) == 1
