"""The file of sharing requests (policy 820.6) in ClickHouse, and the package a fulfilled one sends.

A request is one row of ``share_requests`` per version (received, decided, fulfilled), its written
request (letter, e-mail, form) one row of ``share_letters``. The package holds exactly the reads the
approved request asked for (its plates, window, cameras and area, as recorded at approval), built
like an evidence export and recorded in ``evidence_exports`` under the request's case, so
``alpr evidence verify --recorded`` checks it too. The file is kept apart from LPR data: retention
never touches it, ``purge`` removes requests ``policy.share_request_retention_years`` after their
last activity.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import asdict, fields, replace
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client

from alpr.config import PolicyConfig
from alpr.domain import sharing
from alpr.domain.sharing import FULFILLED, ShareRequest
from alpr.domain.types import FoundRead
from alpr.store import evidence, search
from alpr.store.db import utc
from alpr.store.evidence import Package
from alpr.store.users import approver_ranks

MAX_LETTER_BYTES = 10 * 1024 * 1024
MAX_SHARE_READS = 100_000  # more than this is not one request's worth: the approver narrows it
_COLUMNS = [f.name for f in fields(ShareRequest)]
_TIMES = ("received_at", "since", "until", "decided_at", "fulfilled_at")
SYNC = {"mutations_sync": 2}


class ShareError(ValueError):
    """The file cannot do what was asked (no such request, a letter too large); the message says why."""


def rules(policy: PolicyConfig) -> sharing.Rules:
    """The policy's sharing rules, from configuration."""
    def items(text: str) -> list[str]:
        return [t.strip() for t in text.split(",") if t.strip()]

    return sharing.Rules(states=frozenset(s.upper() for s in items(policy.share_states)),
                         refused_types=frozenset(items(policy.share_refused_agency_types)),
                         requires_case=policy.share_requires_case, retention_years=policy.retention_years,
                         approver_ranks=tuple(approver_ranks(policy)))


def new_id(now: datetime) -> str:
    """A request number people can read out on the telephone: SR-20261204-7F3A2C."""
    return f"SR-{now:%Y%m%d}-{secrets.token_hex(3).upper()}"


def _row(req: ShareRequest) -> list:
    d = asdict(req)
    d["plates"], d["cameras"] = list(req.plates), list(req.cameras)
    return [d[c] for c in _COLUMNS] + [time.time_ns()]


def _request(row: dict) -> ShareRequest:
    for key in _TIMES:
        row[key] = utc(row[key])
    row["plates"], row["cameras"] = tuple(row["plates"]), tuple(row["cameras"])
    return ShareRequest(**row)


class ShareStore:
    def __init__(self, client: Client, db: str):
        self.client = client
        self.db = db

    def put(self, req: ShareRequest) -> ShareRequest:
        """Record this version of the request (its newest version is what ``get`` answers)."""
        self.client.insert(f"{self.db}.share_requests", [_row(req)], column_names=[*_COLUMNS, "version"])
        return req

    def add_letter(self, request_id: str, name: str, data: bytes) -> str:
        """Keep the written request beside its record; returns its SHA-256."""
        if not data:
            raise ShareError("the written request is empty")
        if len(data) > MAX_LETTER_BYTES:
            raise ShareError(f"the written request is larger than {MAX_LETTER_BYTES // (1024 * 1024)} MB")
        digest = hashlib.sha256(data).hexdigest()
        self.client.insert(f"{self.db}.share_letters",
                           [[request_id, name, digest, data, datetime.now(timezone.utc)]],
                           column_names=["request_id", "name", "sha256", "data", "stored_at"])
        return digest

    def letter(self, request_id: str) -> tuple[str, bytes] | None:
        rows = self.client.query(f"SELECT name, data FROM {self.db}.share_letters FINAL WHERE request_id = %(id)s",
                                 parameters={"id": request_id}, column_formats={"data": "bytes"}).result_rows
        return (rows[0][0], rows[0][1]) if rows else None

    def get(self, request_id: str) -> ShareRequest | None:
        found = self._select("request_id = %(id)s", {"id": request_id})
        return found[0] if found else None

    def all(self, status: str = "", since: datetime | None = None, until: datetime | None = None) -> list[ShareRequest]:
        """Requests received in the window (any time when not given), oldest first."""
        where, params = ["1"], {}
        if status:
            where.append("status = %(status)s")
            params["status"] = status
        if since:
            where.append("received_at >= %(since)s")
            params["since"] = since
        if until:
            where.append("received_at < %(until)s")
            params["until"] = until
        return self._select(" AND ".join(where), params)

    def _select(self, where: str, params: dict) -> list[ShareRequest]:
        result = self.client.query(f"SELECT {', '.join(_COLUMNS)} FROM {self.db}.share_requests FINAL "
                                   f"WHERE {where} ORDER BY received_at, request_id", parameters=params)
        return [_request(dict(zip(result.column_names, r))) for r in result.result_rows]

    # -- fulfilment ----------------------------------------------------------------------------
    def reads_in_scope(self, req: ShareRequest) -> list[FoundRead]:
        """Every stored read the request asked for, and nothing else: its plates (exactly), within its
        window, at its cameras and within its area where it names them."""
        near = search.Near.parse(req.area) if req.area else None
        found: dict[str, FoundRead] = {}
        for plate in req.plates or ("",):
            page = 1
            while True:
                q = search.SearchQuery(plate=plate, since=req.since, until=req.until, cameras=req.cameras, near=near,
                                       page=page, page_size=search.MAX_PAGE_SIZE)
                result = search.search(self.client, self.db, q)
                found.update((r.read_id, r) for r in result.reads)
                if len(found) > MAX_SHARE_READS:
                    raise ShareError(f"the request matches more than {MAX_SHARE_READS} reads: it cannot be one share")
                if not result.more:
                    break
                page += 1
        return sorted(found.values(), key=lambda r: (r.captured_at, r.read_id))

    def fulfil(self, req: ShareRequest, actor: str) -> Package:
        """The package for an approved request, built in memory (nothing is written until the access is
        on the access log): the reads in scope, their images, a manifest naming the request, and the
        custody record of the request, its approval and this export."""
        why = sharing.fulfil_refusal(req)
        if why:
            raise ShareError(why)
        reads = self.reads_in_scope(req)
        images = search.images(self.client, self.db, [r.read_id for r in reads])
        export_id, now = uuid.uuid4().hex, datetime.now(timezone.utc)
        reason = f"shared with {req.agency_name} ({req.agency_ori}) on request {req.request_id}"
        request = {k: v for k, v in asdict(req).items()
                   if k not in ("fulfilled_by", "fulfilled_at", "export_id", "package_sha256", "reads_shared")}
        custody = {"case_id": req.case_number, "request": request,
                   "export": evidence.export_record(export_id, actor, now, reason)}
        header = {"case_id": req.case_number, "request_id": req.request_id, "agency": req.agency_name,
                  "agency_ori": req.agency_ori}
        files = evidence.bundle(reads, images, header, custody)
        return Package(export_id, req.case_number, actor, reason, now, len(reads), files)

    def record_fulfilment(self, req: ShareRequest, pkg: Package) -> ShareRequest:
        """Record the request as fulfilled by this package, once the package itself is recorded
        (``evidence.save`` or ``evidence.record``)."""
        return self.put(replace(req, status=FULFILLED, fulfilled_by=pkg.actor, fulfilled_at=pkg.at,
                                export_id=pkg.export_id, package_sha256=pkg.sha256, reads_shared=pkg.reads))

    # -- the file's own retention --------------------------------------------------------------
    def purge(self, now: datetime, years: int) -> list[str]:
        """Remove requests (and their letters) ``years`` after their last activity; open ones stay."""
        ids = [r.request_id for r in self.all() if sharing.purgeable(r, now, years)]
        if ids:
            for table in ("share_requests", "share_letters"):
                self.client.command(f"ALTER TABLE {self.db}.{table} DELETE WHERE request_id IN %(ids)s",
                                    parameters={"ids": ids}, settings=SYNC)
        return ids


def out_of_rule(client: Client, db: str, policy: PolicyConfig) -> list[dict]:
    """Shares sent that the policy did not allow: fulfilled with no approved version of the request on
    record before the export, or to an agency the rules refuse (for the compliance report)."""
    approved = dict(client.query(
        f"SELECT request_id, min(decided_at) FROM {db}.share_requests WHERE status = 'approved' "
        "AND decided_at IS NOT NULL AND decided_by != '' GROUP BY request_id").result_rows)
    found, policy_rules = [], rules(policy)
    for req in ShareStore(client, db).all():
        if not req.export_id:
            continue
        why = []
        at = utc(approved.get(req.request_id))
        if at is None or (req.fulfilled_at and at > req.fulfilled_at):
            why.append("no approval on record before it was sent")
        refused = sharing.refusal(req, policy_rules, req.decided_at or req.received_at)
        if refused:
            why.append(refused.reason)
        if why:
            found.append({"request_id": req.request_id, "agency": req.agency_name, "fulfilled_at": req.fulfilled_at,
                          "why": "; ".join(why)})
    return found
