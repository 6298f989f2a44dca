"""Sharing on written request (policy 820.6) through the gate: each operation the CLI and the API offer,
with its audit record.

A request that breaks a rule is still recorded, as refused, and its recording is audited as denied
with the rule's reason, so the file, the transparency report and the access log all show it. A
package is built in memory inside the gate and handed back only once its access is on the log; the
caller writes it and then calls ``record_fulfilment``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from alpr.access.gate import Access, Caller, Grant
from alpr.config import PolicyConfig
from alpr.domain import sharing
from alpr.domain.sharing import APPROVED, DENIED, REFUSED, Approver, ShareRequest
from alpr.store import shares
from alpr.store.evidence import Package
from alpr.store.shares import ShareStore

NO_REQUEST = "no share request"
CLAIM_S = 600  # how long one export may hold a request it is fulfilling


def _terms(req: ShareRequest) -> dict:
    """What the access log keeps of a request: who asks, why, for what (plates go in its plates column)."""
    return {"request": req.request_id, "agency": req.agency_name, "ori": req.agency_ori, "type": req.agency_type,
            "state": req.agency_state, "requester": req.requester_name, "reason": req.reason,
            "case": req.case_number, "from": req.since.isoformat(), "to": req.until.isoformat(),
            "cameras": list(req.cameras), "area": req.area}


class ShareDesk:
    """The request file behind the gate: one per process, like ``Access``."""

    def __init__(self, access: Access, policy: PolicyConfig, database: str):
        self.access = access
        self.policy = policy
        self.store = ShareStore(access.client, database)
        self.claims = f"alpr:{database}:share-fulfilling:"

    def add(self, who: Caller, req: ShareRequest, letter: tuple[str, bytes] | None) -> ShareRequest:
        """Record a written request as received; AccessDenied (after recording it as refused) when the
        policy forbids the share. ``req``'s id, receipt time and clerk are filled in here."""
        now = datetime.now(timezone.utc)
        req = replace(req, request_id=shares.new_id(now), received_at=now)
        with self.access.use(who, "add_share_request", terms=_terms(req), plates=req.plates) as grant:
            req = sharing.check_fields(replace(req, entered_by=grant.user.username))
            grant.terms, grant.plates = _terms(req), list(req.plates)  # as recorded, tidied
            if letter:
                req = replace(req, letter_name=letter[0], letter_sha256=self.store.add_letter(req.request_id, *letter))
            refused = sharing.refusal(req, shares.rules(self.policy), now)
            if refused:
                self.store.put(replace(req, status=REFUSED, refusal_code=refused.code, refusal_reason=refused.reason))
                raise self.access.refuse(grant, who, f"share refused: {refused} (recorded as {req.request_id})")
            self.store.put(req)
            grant.rows = 1
        return req

    def decide(self, who: Caller, request_id: str, approve: bool, note: str) -> ShareRequest:
        """An approver's decision on a pending request; the request's rules are checked again."""
        terms = {"request": request_id, "decision": "approve" if approve else "deny", "note": note}
        with self.access.use(who, "decide_share_request", terms=terms) as grant:
            req = self._get(grant, who, request_id)
            u = grant.user
            why = sharing.approval_refusal(req, Approver(u.username, u.role, u.rank, u.organisation),
                                           shares.rules(self.policy))
            if why:
                raise self.access.refuse(grant, who, why)
            now = datetime.now(timezone.utc)
            decided = replace(req, decided_by=u.username, decided_at=now, decision_note=note.strip())
            if not approve:
                if not note.strip():
                    raise self.access.refuse(grant, who, "a denial states its reason")
                return self._put(grant, replace(decided, status=DENIED, refusal_code="denied",
                                                refusal_reason=note.strip()))
            refused = sharing.refusal(req, shares.rules(self.policy), now)
            if refused:
                self.store.put(replace(decided, status=REFUSED, refusal_code=refused.code,
                                       refusal_reason=refused.reason))
                raise self.access.refuse(grant, who, f"share refused: {refused}")
            return self._put(grant, replace(decided, status=APPROVED))

    def fulfil(self, who: Caller, request_id: str) -> tuple[ShareRequest, Package]:
        """The package of an approved request, audited under the request's case with the plates sent.
        Nothing is written: save the package, then ``record_fulfilment`` (or ``release`` if saving
        fails). The request is claimed meanwhile, so two people fulfilling it at once make one package."""
        req = self.store.get(request_id)
        who = replace(who, case_id=req.case_number) if req else who
        terms = _terms(req) if req else {"request": request_id}
        with self.access.use(who, "fulfil_share_request", terms=terms, plates=req.plates if req else ()) as grant:
            req = self._get(grant, who, request_id)
            why = sharing.fulfil_refusal(req) or sharing.refusal(req, shares.rules(self.policy), req.decided_at)
            if why:
                raise self.access.refuse(grant, who, str(why))
            if not self.access.redis.set(self.claims + request_id, grant.user.username, nx=True, ex=CLAIM_S):
                raise self.access.refuse(grant, who, f"request {request_id} is being fulfilled by another export now")
            try:
                pkg = self.store.fulfil(req, grant.user.username)
            except BaseException:
                self.release(req)
                raise
            grant.rows = pkg.reads
        return req, pkg

    def record_fulfilment(self, req: ShareRequest, pkg: Package) -> ShareRequest:
        done = self.store.record_fulfilment(req, pkg)
        self.release(req)
        return done

    def release(self, req: ShareRequest) -> None:
        """Give up the claim ``fulfil`` took (the package could not be saved)."""
        self.access.redis.delete(self.claims + req.request_id)

    def find(self, who: Caller, status: str = "", since: datetime | None = None,
             until: datetime | None = None) -> list[ShareRequest]:
        terms = {"status": status, "from": str(since or ""), "to": str(until or "")}
        with self.access.use(who, "view_share_requests", terms=terms) as grant:
            found = self.store.all(status, since, until)
            grant.rows = len(found)
        return found

    def show(self, who: Caller, request_id: str, with_letter: bool = False) -> tuple[ShareRequest, tuple | None]:
        with self.access.use(who, "view_share_requests", terms={"request": request_id, "letter": with_letter}) as g:
            req = self._get(g, who, request_id)
            letter = self.store.letter(request_id) if with_letter else None
            g.rows = 1
        return req, letter

    def transparency(self, who: Caller, since: datetime, until: datetime) -> dict:
        with self.access.use(who, "share_transparency_report", terms={"from": str(since), "to": str(until)}) as g:
            report = sharing.transparency(self.store.all(), since, until)
            g.rows = len(report["shares"])
        return {**report, "department": g.user.organisation}

    def purge(self, who: Caller) -> list[str]:
        years = self.policy.share_request_retention_years
        with self.access.use(who, "purge_share_requests", terms={"retention_years": years}) as grant:
            ids = self.store.purge(datetime.now(timezone.utc), years)
            grant.rows = len(ids)
        return ids

    def _get(self, grant: Grant, who: Caller, request_id: str) -> ShareRequest:
        req = self.store.get(request_id)
        if req is None:
            raise self.access.refuse(grant, who, f"{NO_REQUEST} {request_id}")
        return req

    def _put(self, grant: Grant, req: ShareRequest) -> ShareRequest:
        grant.rows = 1
        return self.store.put(req)

