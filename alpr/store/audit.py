"""The access log: one append-only, keyed hash-chained record per access decision and account event.

Each record's hash is HMAC-SHA256, under a key kept apart from the database (a key file or
``ALPR_AUDIT_KEY``, like the hot-list key), over the previous record's hash and this record's
canonical JSON; the record names its key (``key_id``), so keys can rotate and old records still
verify. Writers take the sequence number and the previous hash from the table itself (its last
record), under a Redis lock that serialises them; Redis also keeps a copy of the head as a witness.
A signed checkpoint ({seq, hash, at, key id, signature}) is stored in ``audit_checkpoints`` and
handed to the auditor as a file to keep elsewhere.

What this guarantees: someone who can write to the database but does not hold the key cannot
change, delete, insert or reorder a record without `verify` reporting it, even if they recompute
every later hash and move the heads, nor forge a checkpoint. Someone who holds the key can rewrite
the chain and the stored checkpoints, but not the checkpoint files auditors keep outside the
database: `verify --checkpoint FILE` catches any rewrite up to such a checkpoint. Records written
before the chain was keyed (no key id) verify with the old plain SHA-256 and are reported as
legacy; the first keyed record covers their last hash, so they are as safe as the records after
them. An unkeyed record after a keyed one, or a chain with a key but no keyed record, is a problem
(a downgrade). A Redis restored from an older snapshot changes nothing: the sequence comes from
the table.

What it does not: records cut off the end after the last checkpoint go unnoticed unless the Redis
head still names them; an access whose record was never written leaves no trace, which is why a
failed write refuses the access (``AuditUnavailable``); a lost key leaves its records unverifiable
(keep a copy apart from the database); and whoever holds the key and every checkpoint file can
rewrite everything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

import redis
from clickhouse_connect.driver.client import Client

from alpr.crypto import KeyUnavailable, generate_key_file, parse_key_lines
from alpr.metrics import AUDIT_WRITE_FAILURES
from alpr.store.db import utc

log = logging.getLogger(__name__)

GENESIS = "0" * 64
ALLOWED, DENIED, ERROR = "allowed", "denied", "error"
KEY_ENV = "ALPR_AUDIT_KEY"
_REDIS_HEAD = "the head kept in Redis"
_QUORUM_WRITE = {"insert_quorum": "auto"}  # a majority of replicas (no-op on one server)
_CONSISTENT_READ = {"select_sequential_consistency": 1}  # every quorum-written record (no-op on one server)


class AuditUnavailable(RuntimeError):
    """The audit record could not be written, so the access is refused."""


@dataclass(frozen=True)
class AuditRecord:
    username: str
    action: str
    outcome: str  # allowed | denied | error
    reason: str = ""
    organisation: str = ""
    role: str = ""
    client_ip: str = ""
    origin: str = ""  # where the request came from beyond the IP (CLI: host and local user); API: empty
    terms: dict = field(default_factory=dict)  # the query terms as given
    plates: tuple[str, ...] = ()  # every plate the access named, for "who looked up this plate"
    purpose: str = ""
    case_id: str = ""
    rows: int = 0
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


COLUMNS = ["seq", "at", "username", "organisation", "role", "client_ip", "origin", "action", "terms", "plates",
           "purpose", "case_id", "outcome", "reason", "rows", "key_id", "prev_hash", "hash"]


# -- keys ------------------------------------------------------------------------------------------

class AuditKeys:
    """The chain's HMAC keys by id; the last one signs new records and checkpoints."""

    def __init__(self, keys: Mapping[str, bytes], current: str = ""):
        self._keys = dict(keys)
        self.current = current

    def __repr__(self) -> str:  # never print key material
        return f"AuditKeys(current={self.current!r}, keys={sorted(self._keys)})"

    @classmethod
    def parse(cls, text: str) -> "AuditKeys":
        """The key file's form (``crypto.parse_key_lines``); HMAC keys of at least 32 bytes."""
        keys, current = parse_key_lines(text)
        for kid, key in keys.items():
            if len(key) < 32:
                raise ValueError(f"audit key {kid!r} must be at least 32 bytes, got {len(key)}")
        return cls(keys, current)

    def mac(self, kid: str, data: bytes) -> str | None:
        """HMAC-SHA256 of data under key kid, or None when this keyring lacks that key."""
        key = self._keys.get(kid)
        return hmac.new(key, data, hashlib.sha256).hexdigest() if key is not None else None


@dataclass(frozen=True)
class KeySource:
    """Where the keys live: ``ALPR_AUDIT_KEY``, else the key file, created on first write when allowed
    (the embedded database's defaults, where no operator has provisioned one)."""

    path: Path
    create: bool = False
    environ: Mapping[str, str] | None = None

    def _env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    def load(self, for_writing: bool = False) -> AuditKeys:
        """The keys (read afresh, so a rotation reaches running processes); an empty keyring when
        none exist and none may be created here."""
        text = self._env().get(KEY_ENV, "")
        if not text and self.path.exists():
            text = self.path.read_text()
        elif not text and for_writing and self.create:
            kid = generate_key_file(self.path)
            log.warning("created the access-log key %s (%s, mode 0600): keep a copy apart from the database; "
                        "without it the log cannot be verified", self.path, kid)
            text = self.path.read_text()
        try:
            keys = AuditKeys.parse(text)
        except ValueError as exc:
            raise KeyUnavailable(f"access-log key in {KEY_ENV if self._env().get(KEY_ENV) else self.path} "
                                 f"is unusable: {exc}") from None
        if for_writing and not keys.current:
            raise LookupError(f"no access-log key: create {self.path} with `alpr audit rotate-key` on this host, "
                              f"or set {KEY_ENV}")
        return keys

    def rotate(self) -> str:
        """Add a new key to the file, which signs from now on; the old ones stay to verify old records."""
        if self._env().get(KEY_ENV):
            raise LookupError(f"the access-log keys come from {KEY_ENV}: add the new key there")
        return generate_key_file(self.path)


# -- hashing -----------------------------------------------------------------------------------------

def _canonical(seq: int, r: dict) -> bytes:
    body = {k: v for k, v in r.items() if k not in ("seq", "prev_hash", "hash")}
    for optional in ("origin", "key_id"):
        if not body.get(optional):
            body.pop(optional, None)  # records from before these columns hash as they did then
    body["at"] = utc(body["at"]).isoformat(timespec="milliseconds")
    body["plates"] = list(body["plates"])
    return json.dumps({"seq": seq, **body}, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(prev_hash: str, seq: int, record: dict) -> str:
    """The legacy, unkeyed hash: anyone can recompute it, so it only ever verifies old records."""
    return hashlib.sha256(prev_hash.encode() + _canonical(seq, record)).hexdigest()


def keyed_hash(keys: AuditKeys, kid: str, prev_hash: str, seq: int, record: dict) -> str | None:
    """The record's HMAC under key kid (which the record names); None when the key is missing."""
    return keys.mac(kid, prev_hash.encode() + _canonical(seq, {**record, "key_id": kid}))


def _row(record: AuditRecord) -> dict:
    d = asdict(record)
    d["terms"] = json.dumps(record.terms, sort_keys=True, separators=(",", ":"), default=str)
    d["plates"] = list(record.plates)
    at = record.at.astimezone(timezone.utc)
    d["at"] = at.replace(microsecond=at.microsecond // 1000 * 1000)  # stored in UTC with ms precision
    return d


# -- checkpoints -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at a moment, signed: a rewrite before it changes the hash at seq."""

    seq: int
    hash: str
    at: datetime
    key_id: str
    signature: str = ""

    def body(self) -> bytes:
        fields = {"seq": self.seq, "hash": self.hash, "key_id": self.key_id,
                  "at": utc(self.at).isoformat(timespec="milliseconds")}
        return b"alpr-audit-checkpoint:" + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": utc(self.at).isoformat(timespec="milliseconds"),
                           "key_id": self.key_id, "signature": self.signature}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Checkpoint":
        """A checkpoint file as `alpr audit checkpoint --out` wrote it; ValueError when it is not one."""
        try:
            d = json.loads(text)
            return cls(int(d["seq"]), str(d["hash"]), datetime.fromisoformat(d["at"]), str(d["key_id"]),
                       str(d["signature"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an access-log checkpoint ({type(exc).__name__}: {exc})") from None


@dataclass
class ChainCheck:
    """What `verify` found: the records, the problems, and what they rest on."""

    records: int = 0
    problems: list[str] = field(default_factory=list)
    legacy: int = 0  # records from before the chain was keyed (plain SHA-256)
    checkpoints: int = 0  # checkpoints checked, stored and given
    last_seq: int = 0
    last_hash: str = GENESIS


# -- the log ---------------------------------------------------------------------------------------

class AuditLog:
    def __init__(self, client: Client, db: str, r: redis.Redis, keys: KeySource):
        self.client = client
        self.table = f"{db}.audit_log"
        self.checkpoint_table = f"{db}.audit_checkpoints"
        self.redis = r
        self.keys = keys
        self.head_key = f"alpr:audit:{db}:head"
        self.lock_key = f"alpr:audit:{db}:lock"

    def _head(self) -> tuple[int, str]:
        """The last record's sequence number and hash, from the table: the one source of truth. On a
        cluster, every record is written with a quorum and read back with sequential consistency,
        so the next writer sees it whichever replica it asks."""
        rows = self.client.query(f"SELECT seq, hash FROM {self.table} ORDER BY seq DESC LIMIT 1",
                                 settings=_CONSISTENT_READ).result_rows
        return (rows[0][0], rows[0][1]) if rows else (0, GENESIS)

    def write(self, record: AuditRecord) -> int:
        """Append the record; returns its sequence number or raises AuditUnavailable."""
        try:
            keys = self.keys.load(for_writing=True)
            with self.redis.lock(self.lock_key, timeout=10, blocking_timeout=5):
                seq, prev = self._head()
                seq += 1
                row = {**_row(record), "key_id": keys.current}
                h = keyed_hash(keys, keys.current, prev, seq, row)
                values = {"seq": seq, **row, "at": row["at"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],  # keep the ms
                          "prev_hash": prev, "hash": h}
                # one-row INSERT ... VALUES with bound values: the quickest way to write one record
                self.client.command(
                    f"INSERT INTO {self.table} ({', '.join(values)}) VALUES ({', '.join(f'%({k})s' for k in values)})",
                    parameters=values, settings=_QUORUM_WRITE)
                self.redis.set(self.head_key, f"{seq}:{h}")
                return seq
        except Exception as exc:
            AUDIT_WRITE_FAILURES.inc()
            reason = (str(exc).strip().splitlines() or [""])[0][:300]
            log.error("audit record not written: %s: %s", type(exc).__name__, reason)  # the operator's why
            raise AuditUnavailable(f"audit log unavailable ({type(exc).__name__}): access refused") from exc

    def checkpoints(self) -> list[Checkpoint]:
        result = self.client.query(
            f"SELECT seq, hash, at, key_id, signature FROM {self.checkpoint_table} ORDER BY seq, at")
        return [Checkpoint(seq, h, utc(at), kid, sig) for seq, h, at, kid, sig in result.result_rows]

    def checkpoint(self, check: ChainCheck) -> Checkpoint:
        """Sign and store the head that check verified (refuse to bless a chain with problems)."""
        if check.problems:
            raise ValueError("the chain has problems: a checkpoint would cover them")
        keys = self.keys.load(for_writing=True)
        now = datetime.now(timezone.utc)
        unsigned = Checkpoint(check.last_seq, check.last_hash,
                              now.replace(microsecond=now.microsecond // 1000 * 1000), keys.current)
        cp = replace(unsigned, signature=keys.mac(keys.current, unsigned.body()) or "")
        self.client.insert(self.checkpoint_table, [[cp.seq, cp.hash, cp.at, cp.key_id, cp.signature]],
                           column_names=["seq", "hash", "at", "key_id", "signature"])
        return cp

    def check(self, given: Iterable[tuple[str, Checkpoint]] = ()) -> ChainCheck:
        """Walk the chain: changed, deleted, inserted, re-hashed or cut-off records, and records that
        differ from a checkpoint (stored, or given as (name, checkpoint) from files kept elsewhere)."""
        keys = self.keys.load()
        c = ChainCheck()
        due: dict[int, list[tuple[str, str]]] = defaultdict(list)  # seq -> (what, expected hash)
        for name, cp in [(f"the checkpoint of {cp.at:%Y-%m-%d %H:%M:%S} UTC", cp) for cp in self.checkpoints()] + [
                (f"checkpoint {name}", cp) for name, cp in given]:
            c.checkpoints += 1
            want = keys.mac(cp.key_id, cp.body())
            if want is None:
                c.problems.append(f"{name}: signed with key {cp.key_id!r}, which the keyring lacks")
            elif not hmac.compare_digest(want, cp.signature):
                c.problems.append(f"{name}: the signature does not match (forged or altered)")
            else:
                due[cp.seq].append((name, cp.hash))
        head = self.redis.get(self.head_key)
        head_seq, _, head_hash = head.decode().partition(":") if head else ("0", "", "")
        if head:
            due[int(head_seq)].append((_REDIS_HEAD, head_hash))

        prev, expected, keyed = GENESIS, 1, False
        result = self.client.query(f"SELECT {', '.join(COLUMNS)} FROM {self.table} ORDER BY seq")
        for values in result.result_rows:
            r = dict(zip(COLUMNS, values))
            seq, kid = r["seq"], r["key_id"]
            c.records += 1
            if seq != expected:
                c.problems.append(f"record {expected} missing before {seq}" if seq > expected
                                  else f"record {seq} appears twice")
            if r["prev_hash"] != prev:
                c.problems.append(f"record {seq}: does not follow the record before it")
            if kid:
                keyed = True
                want = keyed_hash(keys, kid, r["prev_hash"], seq, r)
                if want is None:
                    c.problems.append(f"record {seq}: signed with key {kid!r}, which the keyring lacks")
                elif not hmac.compare_digest(want, r["hash"]):
                    c.problems.append(f"record {seq}: contents changed")
            else:
                c.legacy += 1
                if keyed:
                    c.problems.append(f"record {seq}: unkeyed after keyed records (rewritten without the key)")
                elif chain_hash(r["prev_hash"], seq, r) != r["hash"]:
                    c.problems.append(f"record {seq}: contents changed")
            for what, h in due.pop(seq, []):
                if h != r["hash"]:
                    c.problems.append(f"record {seq}: differs from {what}: the log up to it was rewritten")
            prev, expected = r["hash"], seq + 1
        c.last_seq, c.last_hash = expected - 1, prev
        if c.records and c.legacy == c.records and keys.current:
            # every write since the chain was keyed is keyed, so a keyed system with none was downgraded
            c.problems.append("no record is keyed, though the chain has a key: rewritten without the key")
        for seq, expected_by in sorted(due.items()):
            if seq > c.last_seq:
                c.problems.extend(f"the chain ends at record {c.last_seq}, but record {seq} was written"
                                  if what == _REDIS_HEAD else
                                  f"the chain ends at record {c.last_seq}, but {what} covers record {seq}"
                                  for what, _ in expected_by)
        return c

    def verify(self) -> tuple[int, list[str]]:
        """(records checked, problems), against the stored checkpoints."""
        c = self.check()
        return c.records, c.problems

    def search(self, *, username: str = "", plate: str = "", action: str = "", outcome: str = "",
               since: datetime | None = None, until: datetime | None = None, limit: int = 1000) -> list[dict]:
        where, params = ["1"], {"limit": limit}
        for column, value in (("username", username), ("action", action), ("outcome", outcome)):
            if value:
                where.append(f"{column} = %({column})s")
                params[column] = value
        if plate:
            where.append("has(plates, %(plate)s)")
            params["plate"] = plate
        if since:
            where.append("at >= %(since)s")
            params["since"] = since
        if until:
            where.append("at < %(until)s")
            params["until"] = until
        shown = [c for c in COLUMNS if c not in ("key_id", "prev_hash", "hash")]
        result = self.client.query(
            f"SELECT {', '.join(shown)} FROM {self.table} WHERE {' AND '.join(where)} "
            f"ORDER BY seq DESC LIMIT %(limit)s", parameters=params)
        return [{**dict(zip(result.column_names, r)), "at": utc(r[1])} for r in result.result_rows]
