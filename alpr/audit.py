"""The access log: one append-only, hash-chained record per access decision and account event.

Each record's hash is SHA-256 over the previous record's hash and this record's canonical JSON, so
changing, deleting or inserting a record breaks the chain from that point. The head of the chain
(last sequence number and hash) is kept in Redis as well, so cutting records off the end is caught
too. Writers serialise on a Redis lock, which also keeps several API processes on one chain.
If a record cannot be written the caller must refuse the access (``AuditUnavailable``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import redis
from clickhouse_connect.driver.client import Client

from alpr.db import utc
from alpr.metrics import AUDIT_WRITE_FAILURES

GENESIS = "0" * 64
ALLOWED, DENIED, ERROR = "allowed", "denied", "error"


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


COLUMNS = ["seq", "at", "username", "organisation", "role", "client_ip", "origin", "action", "terms", "plates", "purpose",
           "case_id", "outcome", "reason", "rows", "prev_hash", "hash"]


def _canonical(seq: int, r: dict) -> bytes:
    body = {k: v for k, v in r.items() if k not in ("seq", "prev_hash", "hash")}
    if not body.get("origin"):
        body.pop("origin", None)  # records from before the column hash as they did then
    body["at"] = utc(body["at"]).isoformat(timespec="milliseconds")
    body["plates"] = list(body["plates"])
    return json.dumps({"seq": seq, **body}, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(prev_hash: str, seq: int, record: dict) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(seq, record)).hexdigest()


def _row(record: AuditRecord) -> dict:
    d = asdict(record)
    d["terms"] = json.dumps(record.terms, sort_keys=True, separators=(",", ":"), default=str)
    d["plates"] = list(record.plates)
    at = record.at.astimezone(timezone.utc)
    d["at"] = at.replace(microsecond=at.microsecond // 1000 * 1000)  # stored in UTC with ms precision
    return d


class AuditLog:
    def __init__(self, client: Client, db: str, r: redis.Redis):
        self.client = client
        self.table = f"{db}.audit_log"
        self.redis = r
        self.head_key = f"alpr:audit:{db}:head"
        self.lock_key = f"alpr:audit:{db}:lock"

    def _head(self) -> tuple[int, str]:
        head = self.redis.get(self.head_key)
        if head:
            seq, _, h = head.decode().partition(":")
            return int(seq), h
        rows = self.client.query(f"SELECT seq, hash FROM {self.table} ORDER BY seq DESC LIMIT 1").result_rows
        return (rows[0][0], rows[0][1]) if rows else (0, GENESIS)

    def write(self, record: AuditRecord) -> int:
        """Append the record; returns its sequence number or raises AuditUnavailable."""
        try:
            with self.redis.lock(self.lock_key, timeout=10, blocking_timeout=5):
                seq, prev = self._head()
                seq += 1
                row = _row(record)
                h = chain_hash(prev, seq, row)
                values = {"seq": seq, **row, "at": row["at"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],  # keep the ms
                          "prev_hash": prev, "hash": h}
                # one-row INSERT ... VALUES with bound values: the quickest way to write one record
                self.client.command(
                    f"INSERT INTO {self.table} ({', '.join(values)}) VALUES ({', '.join(f'%({k})s' for k in values)})",
                    parameters=values)
                self.redis.set(self.head_key, f"{seq}:{h}")
                return seq
        except Exception as exc:
            AUDIT_WRITE_FAILURES.inc()
            raise AuditUnavailable(f"audit log unavailable ({type(exc).__name__}): access refused") from exc

    def verify(self) -> tuple[int, list[str]]:
        """(records checked, problems): changed, deleted, inserted or cut-off records."""
        problems: list[str] = []
        prev, expected, n = GENESIS, 1, 0
        result = self.client.query(f"SELECT {', '.join(COLUMNS)} FROM {self.table} ORDER BY seq")
        for values in result.result_rows:
            r = dict(zip(COLUMNS, values))
            n += 1
            if r["seq"] != expected:
                problems.append(f"record {expected} missing before {r['seq']}" if r["seq"] > expected
                                else f"record {r['seq']} appears twice")
            if r["prev_hash"] != prev:
                problems.append(f"record {r['seq']}: does not follow the record before it")
            if chain_hash(r["prev_hash"], r["seq"], r) != r["hash"]:
                problems.append(f"record {r['seq']}: contents changed")
            prev, expected = r["hash"], r["seq"] + 1
        head = self.redis.get(self.head_key)
        if head:
            seq, _, h = head.decode().partition(":")
            if int(seq) != expected - 1 or h != prev:
                problems.append(f"the chain ends at record {expected - 1}, but record {seq} was written")
        return n, problems

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
        result = self.client.query(
            f"SELECT {', '.join(COLUMNS[:-2])} FROM {self.table} WHERE {' AND '.join(where)} "
            f"ORDER BY seq DESC LIMIT %(limit)s", parameters=params)
        return [{**dict(zip(result.column_names, r)), "at": utc(r[1])} for r in result.result_rows]
