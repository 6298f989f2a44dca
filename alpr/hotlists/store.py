"""Hot lists in Redis: the plate in clear text, every other field sealed with AES-256-GCM.

Layout (each list swaps as a whole with RENAME, so readers see the old or the new list):
  alpr:hotlists                     set of list names
  alpr:hotlist:{name}               hash  folded plate -> JSON array of records
  alpr:hotlist:{name}:patterns      hash  wildcard pattern -> JSON array of records (BOLO partials)
  alpr:hotlist-meta:{name}          hash  refreshed_at, entries, version, source
  alpr:skiplist                     set of plates never matched (known false reads such as "000")
  alpr:skiplist-added               hash  skipped plate -> {"by", "at"}: who skipped it, when
A record is {"plate", "id", "kid", "nonce", "ct", "at"[, "st"][, "by"][, "exp"]}: ``st`` is the
issuing state's USPS code, part of the plate's identity as in NCIC (the same characters in two
states are two vehicles), so the flow compares it with the read's state without the key; ``at``
(epoch seconds) is when it was added and ``by`` the username who added it (no other personal data),
``exp`` (epoch seconds) when a BOLO ends. Matching a batch of reads against every list is one pipelined round trip.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson
import redis

from alpr.crypto import Keyring
from alpr.domain.matching import (
    CONFUSABLE,
    EXACT,
    PARTIAL,
    RANK,
    PatternSet,
    fold,
    is_pattern,
    normalize_pattern,
    validate_pattern,
)
from alpr.domain.types import HotlistEntry, Match, NewEntry
from alpr.metrics import HOTLIST_AGE, HOTLIST_ENTRIES

LISTS_KEY = "alpr:hotlists"
SKIP_KEY = "alpr:skiplist"
SKIP_ADDED_KEY = "alpr:skiplist-added"
CHUNK = 10_000
META_FIELDS = ("version", "entries", "refreshed_at")

# Every list, the skip list and the list versions in one server-side call: a read costs one
# command whatever the number of lists. (Standalone or Sentinel Redis; list keys are derived from
# list names, so this is not for Redis Cluster, which a hot list of millions does not need.)
MATCH_LUA = """
local n = tonumber(ARGV[1])
local names = redis.call('SMEMBERS', KEYS[1])
table.sort(names)
local skip, folded = {}, {}
for i = 1, n do skip[i] = redis.call('SISMEMBER', KEYS[2], ARGV[1 + i]) end
for i = n + 2, #ARGV do folded[#folded + 1] = ARGV[i] end
local out = {names, skip}
for _, name in ipairs(names) do
  out[#out + 1] = redis.call('HMGET', 'alpr:hotlist:' .. name, unpack(folded))
  out[#out + 1] = redis.call('HMGET', 'alpr:hotlist-meta:' .. name, 'version', 'entries', 'refreshed_at')
end
return out
"""


def list_key(name: str) -> str:
    return f"alpr:hotlist:{name}"


def patterns_key(name: str) -> str:
    return f"alpr:hotlist:{name}:patterns"


def meta_key(name: str) -> str:
    return f"alpr:hotlist-meta:{name}"


def _aad(list_name: str, plate: str, entry_id: str) -> bytes:
    """Binds a ciphertext to its record so it cannot be moved to another plate or list."""
    return f"{list_name}\x1f{plate}\x1f{entry_id}".encode()


def _s(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


@dataclass
class _ListCache:
    version: str = ""
    patterns: PatternSet = field(default_factory=lambda: PatternSet(()))
    records: dict[str, list[dict]] = field(default_factory=dict)
    refreshed_at: float = 0.0
    age_published_at: float = 0.0


class HotlistStore:
    def __init__(self, client: redis.Redis, keyring: Keyring | None = None):
        self.redis = client
        self.keyring = keyring
        self._match_script = client.register_script(MATCH_LUA)
        self._cache: dict[str, _ListCache] = {}

    # -- writing ------------------------------------------------------------------------------

    def _key_of(self, plate_text: str) -> tuple[str, str]:
        """(normalised plate or pattern, hash field it is stored under)."""
        plate = normalize_pattern(plate_text)
        if not plate:
            raise ValueError("empty plate")
        if is_pattern(plate):
            validate_pattern(plate)
            return plate, plate
        return plate, fold(plate)

    def _record(self, list_name: str, plate: str, new: NewEntry, by: str, at: int) -> dict:
        """One stored record, its fields sealed; who added it and when stay readable for the audit."""
        if self.keyring is None:
            raise RuntimeError("writing hot-list entries needs the hot-list key")
        entry_id = os.urandom(8).hex()
        rec = {"plate": plate, "id": entry_id, **self.keyring.seal(dict(new.fields), _aad(list_name, plate, entry_id)),
               "at": at}
        if new.state:
            rec["st"] = new.state
        if by:
            rec["by"] = by
        if new.expires_at is not None:
            rec["exp"] = int(new.expires_at.timestamp())
        return rec

    def replace(self, list_name: str, entries: Iterable[NewEntry], source: str = "", by: str = "") -> int:
        """Load a whole list and swap it in atomically; readers see the old or the new list.
        ``by`` is the username recorded on every entry as the one who added it."""
        at = int(time.time())
        grouped: tuple[dict[str, list[tuple[str, NewEntry]]], dict[str, list[tuple[str, NewEntry]]]] = ({}, {})
        n = 0
        for new in entries:
            plate, key = self._key_of(new.plate)
            grouped[is_pattern(plate)].setdefault(key, []).append((plate, new))
            n += 1

        def sealed(data: dict[str, list[tuple[str, NewEntry]]]) -> Iterator[dict[str, bytes]]:
            keys = list(data)
            for i in range(0, len(keys), CHUNK):
                yield {k: orjson.dumps([self._record(list_name, p, e, by, at) for p, e in data[k]])
                       for k in keys[i : i + CHUNK]}

        self._swap(list_name, sealed(grouped[False]), sealed(grouped[True]), n, source)
        return n

    def _stage(self, target: str, chunks: Iterator[dict[str, bytes]]) -> str | None:
        """Write chunks to a fresh staging hash; returns its key, or None when there was nothing.

        A writer thread sends chunk i while this thread seals chunk i+1 (the socket wait releases
        the GIL), so encryption and Redis work overlap on a large import.
        """
        staging = f"{target}:staging:{uuid.uuid4().hex}"

        def write(mapping: dict[str, bytes]) -> None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(staging, mapping=mapping)
            pipe.expire(staging, 3600)  # a load that dies half-way leaves nothing behind for long
            pipe.execute()

        wrote = False
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending = None
            for mapping in chunks:
                if pending is not None:
                    pending.result()
                pending = writer.submit(write, mapping)
                wrote = True
            if pending is not None:
                pending.result()
        return staging if wrote else None

    def _swap(self, list_name: str, exact: Iterator[dict[str, bytes]], patterns: Iterator[dict[str, bytes]],
              entries: int, source: str, watching: redis.client.Pipeline | None = None) -> None:
        """Stage both hashes, then rename them into place in one MULTI. With ``watching`` (a
        pipeline that WATCHed the list before it was read) the swap fails with WatchError if the
        list changed meanwhile."""
        staged = {list_key(list_name): self._stage(list_key(list_name), exact),
                  patterns_key(list_name): self._stage(patterns_key(list_name), patterns)}

        def swap(pipe: redis.client.Pipeline) -> None:
            pipe.multi()
            for target, staging in staged.items():
                if staging:
                    pipe.rename(staging, target)
                    pipe.persist(target)  # RENAME carries the staging TTL over
                else:
                    pipe.delete(target)
            pipe.sadd(LISTS_KEY, list_name)
            pipe.hset(meta_key(list_name), mapping={
                "refreshed_at": datetime.now(timezone.utc).isoformat(), "entries": entries, "source": source})
            pipe.hincrby(meta_key(list_name), "version", 1)

        try:
            if watching is None:
                self.redis.transaction(swap)
            else:
                swap(watching)
                watching.execute()
        except redis.WatchError:
            for staging in staged.values():
                if staging:
                    self.redis.delete(staging)
            raise

    def _update(self, list_name: str, key: str, pattern: bool, change) -> object:
        """Read-modify-write one hash field under WATCH; ``change(records) -> (records, result)``."""
        target = patterns_key(list_name) if pattern else list_key(list_name)
        result: list = []

        def tx(pipe: redis.client.Pipeline) -> None:
            records = orjson.loads(pipe.hget(target, key) or "[]")
            new_records, res = change(records)
            delta = len(new_records) - len(records)
            pipe.multi()
            if new_records:
                pipe.hset(target, key, orjson.dumps(new_records))
            else:
                pipe.hdel(target, key)
            pipe.sadd(LISTS_KEY, list_name)
            pipe.hincrby(meta_key(list_name), "entries", delta)
            pipe.hincrby(meta_key(list_name), "version", 1)
            result[:] = [res]

        self.redis.transaction(tx, target)
        return result[0]

    def add(self, list_name: str, new: NewEntry, by: str = "") -> str:
        """Add one entry (a BOLO entered by hand) as added by ``by``; returns its entry id."""
        plate, key = self._key_of(new.plate)
        rec = self._record(list_name, plate, new, by, int(time.time()))
        return self._update(list_name, key, is_pattern(plate), lambda recs: (recs + [rec], rec["id"]))

    def remove(self, list_name: str, plate: str, entry_id: str | None = None) -> list[str]:
        """Remove a plate's entries (or only one of them); returns the ids of those that went."""
        plate = normalize_pattern(plate)
        pattern = is_pattern(plate)

        def drop(recs: list[dict]) -> tuple[list[dict], list[str]]:
            gone = [r for r in recs if r["plate"] == plate and (entry_id is None or r["id"] == entry_id)]
            return [r for r in recs if r not in gone], [r["id"] for r in gone]

        return self._update(list_name, plate if pattern else fold(plate), pattern, drop)

    def set_expiry(self, list_name: str, plate: str, entry_id: str, when: datetime) -> bool:
        """Give an entry an end time; the matcher ignores it from then on."""
        plate = normalize_pattern(plate)
        pattern = is_pattern(plate)

        def set_exp(recs: list[dict]) -> tuple[list[dict], bool]:
            found = False
            for r in recs:
                if r["plate"] == plate and r["id"] == entry_id:
                    r["exp"], found = int(when.timestamp()), True
            return recs, found

        return self._update(list_name, plate if pattern else fold(plate), pattern, set_exp)

    def sweep_expired(self, now: datetime | None = None) -> int:
        """Remove every entry whose end time has passed; returns how many."""
        cutoff = (now or datetime.now(timezone.utc)).timestamp()
        removed = 0
        for name in self.list_names():
            for target, pattern in ((list_key(name), False), (patterns_key(name), True)):
                for key, raw in self.redis.hscan_iter(target):
                    if any(r.get("exp", float("inf")) <= cutoff for r in orjson.loads(raw)):
                        removed += self._update(name, _s(key), pattern, lambda recs: (
                            [r for r in recs if r.get("exp", float("inf")) > cutoff],
                            sum(r.get("exp", float("inf")) <= cutoff for r in recs)))
        return removed

    def rotate(self) -> int:
        """Re-seal every record with the keyring's current key, list by list, without downtime.

        Each list is WATCHed before it is read; if an add or remove lands during the rewrite the
        swap aborts and the list is rewritten again, so no concurrent change is lost.
        """
        if self.keyring is None:
            raise RuntimeError("rotating needs the hot-list key")
        total = 0
        for name in self.list_names():
            while True:
                watched = (list_key(name), patterns_key(name))
                counted = [0]
                with self.redis.pipeline() as pipe:
                    pipe.watch(*watched)
                    meta = {_s(k): _s(v) for k, v in self.redis.hgetall(meta_key(name)).items()}
                    try:
                        self._swap(name, self._resealed(name, watched[0], counted), self._resealed(name, watched[1], counted),
                                   int(meta.get("entries", 0)), meta.get("source", ""), watching=pipe)
                    except redis.WatchError:
                        continue
                total += counted[0]
                break
        return total

    def _resealed(self, list_name: str, target: str, counted: list[int]) -> Iterator[dict[str, bytes]]:
        """The hash's records re-sealed with the current key, in chunks for staging."""
        chunk: dict[str, bytes] = {}
        for key, raw in self.redis.hscan_iter(target, count=CHUNK):
            recs = [self._reseal(list_name, r) for r in orjson.loads(raw)]
            counted[0] += len(recs)
            chunk[_s(key)] = orjson.dumps(recs)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = {}
        if chunk:
            yield chunk

    def _reseal(self, list_name: str, rec: dict) -> dict:
        if rec["kid"] == self.keyring.current:
            return rec
        aad = _aad(list_name, rec["plate"], rec["id"])
        fields = self.keyring.open(rec, aad)
        return {**rec, **self.keyring.seal(fields, aad)}

    # -- skip list ------------------------------------------------------------------------------

    def skip(self, plates: Iterable[str], by: str = "") -> None:
        """Never match these plates; who skipped each and when is kept beside the set."""
        plates = [normalize_pattern(p) for p in plates]
        added = orjson.dumps({"by": by, "at": int(time.time())})
        pipe = self.redis.pipeline()
        pipe.sadd(SKIP_KEY, *plates)
        pipe.hset(SKIP_ADDED_KEY, mapping=dict.fromkeys(plates, added))
        pipe.execute()

    def unskip(self, plates: Iterable[str]) -> None:
        plates = [normalize_pattern(p) for p in plates]
        pipe = self.redis.pipeline()
        pipe.srem(SKIP_KEY, *plates)
        pipe.hdel(SKIP_ADDED_KEY, *plates)
        pipe.execute()

    def skipped(self) -> list[str]:
        return sorted(_s(p) for p in self.redis.smembers(SKIP_KEY))

    def skipped_by(self) -> dict[str, dict[str, str]]:
        """Each skipped plate with who added it and when (empty for plates skipped before this was kept)."""
        added = {_s(k): orjson.loads(v) for k, v in self.redis.hgetall(SKIP_ADDED_KEY).items()}
        return {p: _added(added.get(p, {})) for p in self.skipped()}

    # -- reading --------------------------------------------------------------------------------

    def list_names(self) -> list[str]:
        return sorted(_s(n) for n in self.redis.smembers(LISTS_KEY))

    def lists(self) -> dict[str, dict[str, str]]:
        names = self.list_names()
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(meta_key(name))
        return {name: {_s(k): _s(v) for k, v in meta.items()} for name, meta in zip(names, pipe.execute())}

    def show(self, list_name: str, plate: str) -> list[tuple[HotlistEntry, dict, dict]]:
        """A plate's entries with their decrypted fields and who added them when (for authorised
        users; access control wraps this)."""
        plate = normalize_pattern(plate)
        target, key = (patterns_key(list_name), plate) if is_pattern(plate) else (list_key(list_name), fold(plate))
        recs = [r for r in orjson.loads(self.redis.hget(target, key) or "[]") if r["plate"] == plate]
        return [(e, self.reveal(e), _added(r)) for e, r in ((_entry(list_name, r), r) for r in recs)]

    def reveal(self, entry: HotlistEntry) -> dict:
        if self.keyring is None:
            raise RuntimeError("reading hot-list fields needs the hot-list key")
        return self.keyring.open(entry.sealed, _aad(entry.list_name, entry.plate, entry.entry_id))

    def _refresh(self, name: str, meta: dict[str, bytes | None]) -> PatternSet:
        """The list's wildcard entries, reloaded only when its version changes; also publishes
        the list's size and age for operations (a list not refreshed for a day is an alert)."""
        cache = self._cache.setdefault(name, _ListCache())
        version = _s(meta["version"] or b"")
        if cache.version != version:
            raw = self.redis.hgetall(patterns_key(name))
            cache.records = {_s(k): orjson.loads(v) for k, v in raw.items()}
            cache.patterns = PatternSet(cache.records)
            cache.version = version
            cache.refreshed_at = datetime.fromisoformat(_s(meta["refreshed_at"])).timestamp() if meta["refreshed_at"] else 0.0
            HOTLIST_ENTRIES.labels(name).set(float(meta["entries"] or 0))
        now = time.time()
        if cache.refreshed_at and now - cache.age_published_at >= 1.0:  # a gauge, not a per-read cost
            HOTLIST_AGE.labels(name).set(max(0.0, now - cache.refreshed_at))
            cache.age_published_at = now
        return cache.patterns

    def match(self, plates: Iterable[str], now: datetime | None = None) -> dict[str, list[Match]]:
        """Matches for many plates (reads and OCR candidates) across every list, one round trip.

        Each (plate, entry) pair is reported once with its strongest kind; plates on the skip
        list and entries past their end time never match.
        """
        plates = sorted({p for p in plates if p})
        if not plates:
            return {}
        folded = sorted({fold(p) for p in plates})
        replies = self._match_script(keys=[LISTS_KEY, SKIP_KEY], args=[len(plates), *plates, *folded])
        names = [_s(n) for n in replies[0]]
        skipped = {p for p, s in zip(plates, replies[1]) if s}
        live = [p for p in plates if p not in skipped]
        cutoff = (now or datetime.now(timezone.utc)).timestamp()
        out: dict[str, dict[tuple[str, str], Match]] = {}

        def keep(plate: str, entry: HotlistEntry, kind: str, rec: dict) -> None:
            if rec.get("exp", float("inf")) <= cutoff:
                return
            best = out.setdefault(plate, {})
            k = (entry.list_name, entry.entry_id)
            if k not in best or RANK[kind] < RANK[best[k].kind]:
                best[k] = Match(plate, entry, kind)

        for i, name in enumerate(names):
            values, meta = replies[2 + 2 * i], dict(zip(META_FIELDS, replies[3 + 2 * i]))
            patterns = self._refresh(name, meta)
            by_fold = {f: orjson.loads(v) for f, v in zip(folded, values) if v is not None}
            for plate in live:
                for rec in by_fold.get(fold(plate), ()):
                    keep(plate, _entry(name, rec), EXACT if rec["plate"] == plate else CONFUSABLE, rec)
                for pattern in patterns.matches(plate):
                    for rec in self._cache[name].records[pattern]:
                        keep(plate, _entry(name, rec), PARTIAL, rec)
        return {p: sorted(m.values(), key=lambda m: (RANK[m.kind], m.entry.list_name)) for p, m in out.items()}


def _added(rec: dict) -> dict[str, str]:
    """Who added a record and when (UTC); empty for records loaded before this was kept."""
    at = datetime.fromtimestamp(rec["at"], timezone.utc).isoformat() if "at" in rec else ""
    return {"added_by": rec.get("by", ""), "added_at": at}


def _entry(list_name: str, rec: dict) -> HotlistEntry:
    return HotlistEntry(list_name, rec["id"], rec["plate"], {k: rec[k] for k in ("kid", "nonce", "ct")}, rec.get("st", ""))
