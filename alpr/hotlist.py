"""Hot lists in Redis: the plate in clear text, every other field sealed with AES-256-GCM.

Layout (one hash per list so a refresh can swap a whole list atomically with RENAME):
  alpr:hotlists                set of list names
  alpr:hotlist:{name}          hash  plate -> JSON array of {"id", "kid", "nonce", "ct"}
  alpr:hotlist-meta:{name}     hash  refreshed_at (ISO UTC), entries
A lookup of many plates across every list is one pipelined round trip.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from typing import Iterable, Mapping

import redis

from alpr.crypto import Keyring
from alpr.domain import HotlistEntry
from alpr.plates import normalize

LISTS_KEY = "alpr:hotlists"


def list_key(name: str) -> str:
    return f"alpr:hotlist:{name}"


def meta_key(name: str) -> str:
    return f"alpr:hotlist-meta:{name}"


def _aad(list_name: str, plate: str, entry_id: str) -> bytes:
    """Binds a ciphertext to its record so it cannot be moved to another plate or list."""
    return f"{list_name}\x1f{plate}\x1f{entry_id}".encode()


class HotlistStore:
    NAMES_TTL_S = 5.0  # how long lookups reuse the set of list names

    def __init__(self, client: redis.Redis, keyring: Keyring | None = None):
        self.redis = client
        self.keyring = keyring
        self._names: list[str] = []
        self._names_at = float("-inf")

    def list_names(self) -> list[str]:
        if time.monotonic() - self._names_at > self.NAMES_TTL_S:
            self._names = sorted(n.decode() if isinstance(n, bytes) else n for n in self.redis.smembers(LISTS_KEY))
            self._names_at = time.monotonic()
        return self._names

    def _seal(self, list_name: str, plate: str, fields: Mapping[str, object], entry_id: str) -> dict:
        if self.keyring is None:
            raise RuntimeError("writing hot-list entries needs the hot-list key")
        return {"id": entry_id, **self.keyring.seal(dict(fields), _aad(list_name, plate, entry_id))}

    def replace(self, list_name: str, entries: Iterable[tuple[str, Mapping[str, object]]]) -> int:
        """Load a whole list and swap it in atomically; readers see the old or the new list."""
        grouped: dict[str, list[dict]] = {}
        for plate, fields in entries:
            plate = normalize(plate)
            if not plate:
                raise ValueError(f"empty plate in entry {fields!r}")
            grouped.setdefault(plate, []).append(self._seal(list_name, plate, fields, uuid.uuid4().hex))
        staging = f"{list_key(list_name)}:staging:{uuid.uuid4().hex}"
        if grouped:
            pipe = self.redis.pipeline(transaction=False)
            items = list(grouped.items())
            for i in range(0, len(items), 10_000):
                pipe.hset(staging, mapping={p: json.dumps(v) for p, v in items[i : i + 10_000]})
            pipe.expire(staging, 3600)  # a load that dies half-way leaves nothing behind for long
            pipe.execute()
        n = sum(len(v) for v in grouped.values())
        pipe = self.redis.pipeline(transaction=True)
        if grouped:
            pipe.rename(staging, list_key(list_name))
            pipe.persist(list_key(list_name))  # RENAME carries the staging TTL over
        else:
            pipe.delete(list_key(list_name))
        pipe.sadd(LISTS_KEY, list_name)
        pipe.hset(meta_key(list_name), mapping={"refreshed_at": datetime.now(timezone.utc).isoformat(), "entries": n})
        pipe.execute()
        return n

    def add(self, list_name: str, plate: str, fields: Mapping[str, object]) -> str:
        """Add one entry (for BOLOs entered by hand); returns its entry id."""
        plate = normalize(plate)
        entry = self._seal(list_name, plate, fields, uuid.uuid4().hex)
        key = list_key(list_name)

        def tx(pipe: redis.client.Pipeline) -> None:
            current = json.loads(pipe.hget(key, plate) or "[]")
            pipe.multi()
            pipe.hset(key, plate, json.dumps(current + [entry]))
            pipe.sadd(LISTS_KEY, list_name)
            pipe.hincrby(meta_key(list_name), "entries", 1)

        self.redis.transaction(tx, key)
        return entry["id"]

    def lists(self) -> dict[str, dict[str, str]]:
        self._names_at = float("-inf")
        names = self.list_names()
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(meta_key(name))
        return {
            name: {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in meta.items()}
            for name, meta in zip(names, pipe.execute())
        }

    def lookup(self, plates: Iterable[str]) -> dict[str, list[HotlistEntry]]:
        """Exact matches for many plates across every list in one round trip."""
        plates = sorted({p for p in plates if p})
        names = self.list_names()
        if not plates or not names:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hmget(list_key(name), plates)
        found: dict[str, list[HotlistEntry]] = {}
        for name, values in zip(names, pipe.execute()):
            for plate, raw in zip(plates, values):
                if raw is None:
                    continue
                for e in json.loads(raw):
                    sealed = {k: e[k] for k in ("kid", "nonce", "ct")}
                    found.setdefault(plate, []).append(HotlistEntry(name, e["id"], plate, sealed))
        return found

    def reveal(self, entry: HotlistEntry) -> dict:
        """Decrypt an entry's fields (for authorised users; access control wraps this later)."""
        if self.keyring is None:
            raise RuntimeError("reading hot-list fields needs the hot-list key")
        return self.keyring.open(entry.sealed, _aad(entry.list_name, entry.plate, entry.entry_id))
