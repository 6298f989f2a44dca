"""Sharing LPR data with another agency (policy 820.6; Civil Code 1798.90.55; Attorney General bulletin
2023-DLE-06), as pure rules.

A share starts as a written request naming the agency, the person and the reason. It is recorded
whatever it asks; one that breaks a rule is recorded as refused, with the rule's code and reason
(the transparency report counts refusals by code). An approver of an approving rank, not of the
requesting agency, approves or denies a pending request; an approved one is fulfilled once, with
exactly the reads it asked for. California law lets a public agency share only with California
public agencies: not with federal or out-of-state agencies, never with private persons or companies.

    pending -> approved -> fulfilled
            -> denied          (by an approver, with the reason)
    refused                    (on receipt or at approval: a rule of the policy forbids it)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from alpr.domain.dates import add_years

PENDING, APPROVED, DENIED, REFUSED, FULFILLED = "pending", "approved", "denied", "refused", "fulfilled"
STATUSES = (PENDING, APPROVED, DENIED, REFUSED, FULFILLED)

# The kinds of requester, and who they are; which of them may receive data is configuration.
AGENCY_TYPES = {
    "police": "city police department",
    "sheriff": "county sheriff's office",
    "prosecutor": "district attorney or city attorney",
    "state": "state law-enforcement agency (CHP, state Department of Justice)",
    "federal": "federal agency",
    "private": "private company, security firm or private investigator",
    "commercial": "commercial use (insurer, repossession, data broker)",
    "individual": "a private person",
}

# Refusal codes, as the transparency report names them.
REASONS = {
    "out_of_state": "agency outside the states data may go to",
    "federal": "federal agency",
    "private": "private requester",
    "commercial": "commercial purpose",
    "individual": "private person",
    "no_reason": "no reason stated",
    "no_case": "no case number",
    "no_letter": "no written request on file",
    "unspecific": "no plates, cameras or area named",
    "beyond_retention": "asks for data beyond the retention window",
    "bad_window": "time window ends before it starts, or in the future",
    "denied": "denied by the approver",
}

_ORI = re.compile(r"^[A-Z]{2}[A-Z0-9]{7}$")  # NCIC Originating Agency Identifier: state code + 7
_STATE = re.compile(r"^[A-Z]{2}$")
MAX_TEXT = 500


class RequestError(ValueError):
    """The request is malformed (not a policy refusal): the message says which field and why."""


@dataclass(frozen=True)
class Rules:
    """The policy's sharing rules (``policy.share_*``, ``policy.approver_ranks``, ``policy.retention_years``)."""

    states: frozenset[str] = frozenset({"CA"})
    refused_types: frozenset[str] = frozenset({"federal", "private", "commercial", "individual"})
    requires_case: bool = True
    retention_years: int = 2
    approver_ranks: tuple[str, ...] = ("watch_commander", "detective_bureau_lieutenant", "division_commander")


@dataclass(frozen=True)
class Refusal:
    code: str  # one of REASONS
    reason: str  # the sentence people read

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class ShareRequest:
    """One written request and what became of it; every change is a new version of the whole."""

    request_id: str
    received_at: datetime
    entered_by: str
    agency_name: str
    agency_ori: str
    agency_type: str
    agency_state: str
    requester_name: str
    requester_title: str
    requester_contact: str
    reason: str
    case_number: str
    since: datetime
    until: datetime
    plates: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    area: str = ""  # LAT,LON,METRES
    letter_name: str = ""
    letter_sha256: str = ""  # of the written request, kept in the file beside it
    status: str = PENDING
    refusal_code: str = ""
    refusal_reason: str = ""
    decided_by: str = ""
    decided_at: datetime | None = None
    decision_note: str = ""
    fulfilled_by: str = ""
    fulfilled_at: datetime | None = None
    export_id: str = ""
    package_sha256: str = ""
    reads_shared: int = 0

    def last_activity(self) -> datetime:
        return max(t for t in (self.received_at, self.decided_at, self.fulfilled_at) if t is not None)


def check_fields(req: ShareRequest) -> ShareRequest:
    """The request with its fields tidied (upper-case ORI, state and plates); RequestError for a field
    that cannot be recorded as given. What the policy forbids is ``refusal``'s business, not this."""
    for name in ("agency_name", "requester_name", "requester_title", "requester_contact", "reason", "case_number",
                 "area", "letter_name"):
        value = getattr(req, name)
        if len(value) > MAX_TEXT or not value.isprintable():
            raise RequestError(f"{name.replace('_', ' ')}: at most {MAX_TEXT} printable characters")
    if not req.agency_name.strip():
        raise RequestError("the requesting agency's name is required")
    if not req.requester_name.strip():
        raise RequestError("the requesting person's name is required")
    if not req.requester_contact.strip():
        raise RequestError("the requesting person's contact (telephone or e-mail) is required")
    ori = req.agency_ori.strip().upper()
    if not _ORI.match(ori):
        raise RequestError(f"ORI {req.agency_ori!r}: 9 characters, the agency's state code and 7 letters or digits")
    state = req.agency_state.strip().upper()
    if not _STATE.match(state):
        raise RequestError(f"state {req.agency_state!r}: a two-letter code (CA)")
    if req.agency_type not in AGENCY_TYPES:
        raise RequestError(f"agency type {req.agency_type!r}: one of {', '.join(AGENCY_TYPES)}")
    if req.since.tzinfo is None or req.until.tzinfo is None:
        raise RequestError("the time window needs time zones")
    if not (1970 <= req.since.year <= 2299 and 1970 <= req.until.year <= 2299):
        raise RequestError("the time window must lie within 1970-2299")
    if req.area:
        try:
            lat, lon, radius = (float(x) for x in req.area.split(","))
        except ValueError:
            raise RequestError(f"area {req.area!r}: LAT,LON,METRES") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < radius <= 50_000):
            raise RequestError(f"area {req.area!r}: a point and a radius of at most 50 km")
    plates = tuple(dict.fromkeys("".join(c for c in p.upper() if c.isalnum()) for p in req.plates))
    if any(not 1 <= len(p) <= 10 for p in plates):
        raise RequestError("plates: 1-10 letters or digits each")
    cameras = tuple(dict.fromkeys(c.strip() for c in req.cameras if c.strip()))
    return replace(req, agency_ori=ori, agency_state=state, plates=plates, cameras=cameras,
                   agency_name=req.agency_name.strip(), case_number=req.case_number.strip(), reason=req.reason.strip())


def refusal(req: ShareRequest, rules: Rules, now: datetime) -> Refusal | None:
    """Why the policy forbids this share; None when it may go to an approver. The first rule broken
    is the one reported (the transparency report counts one reason per request)."""
    if req.agency_type in rules.refused_types:
        return Refusal(req.agency_type, f"{AGENCY_TYPES[req.agency_type]}: the policy shares only with "
                                         "law-enforcement agencies, never for private or commercial use"
                       if req.agency_type != "federal" else
                       "federal agency: California public agencies may share ALPR data only with California "
                       "public agencies (Civil Code 1798.90.55; AG bulletin 2023-DLE-06)")
    for state in (req.agency_state, req.agency_ori[:2]):
        if state not in rules.states:
            return Refusal("out_of_state", f"agency of {state}: data is shared only with public agencies of "
                                           f"{', '.join(sorted(rules.states))} (Civil Code 1798.90.55)")
    if not req.reason.strip():
        return Refusal("no_reason", "the request states no reason")
    if rules.requires_case and not req.case_number.strip():
        return Refusal("no_case", "the request names no case number")
    if not req.letter_sha256:
        return Refusal("no_letter", "no written request is on file: attach the letter or e-mail")
    if not (req.plates or req.cameras or req.area):
        return Refusal("unspecific", "the request names no plates, cameras or area: every read in a window "
                                     "is not shared")
    if req.since >= req.until or req.until > now + timedelta(minutes=5):
        return Refusal("bad_window", "the time window must end after it starts and not in the future")
    oldest = add_years(now, -rules.retention_years)
    if req.since < oldest:
        return Refusal("beyond_retention", f"asks for reads from {req.since:%Y-%m-%d}, before the "
                                           f"{rules.retention_years}-year retention window ({oldest:%Y-%m-%d})")
    return None


@dataclass(frozen=True)
class Approver:
    username: str
    role: str
    rank: str
    organisation: str


def _same_agency(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return " ".join("".join(c for c in s.casefold() if c.isalnum() or c.isspace()).split())
    return norm(a) == norm(b)


def approval_refusal(req: ShareRequest, who: Approver, rules: Rules) -> str | None:
    """Why this person may not approve or deny this request; None when they may."""
    if req.status != PENDING:
        return f"request {req.request_id} is {req.status}, not pending"
    if who.rank not in rules.approver_ranks:
        names = ", ".join(r.replace("_", " ") for r in rules.approver_ranks)
        return f"only these ranks decide on sharing: {names}"
    if _same_agency(who.organisation, req.agency_name):
        return "a member of the requesting agency may not decide its own request"
    return None


def fulfil_refusal(req: ShareRequest) -> str | None:
    """Why this request cannot be fulfilled now; None when it can."""
    if req.status == FULFILLED:
        return f"request {req.request_id} was fulfilled on {req.fulfilled_at:%Y-%m-%d} (export {req.export_id})"
    if req.status != APPROVED:
        return f"request {req.request_id} is {req.status}: only an approved request is fulfilled"
    return None


def transparency(requests: list[ShareRequest], since: datetime, until: datetime) -> dict:
    """Shares per agency per month and refusals by reason, for publication: no plates, no people."""
    shares: dict[tuple[str, str, str], dict] = {}
    refusals: dict[str, int] = {}
    received = 0
    for r in requests:
        if since <= r.received_at < until:
            received += 1
            if r.status in (REFUSED, DENIED):
                refusals[r.refusal_code or "denied"] = refusals.get(r.refusal_code or "denied", 0) + 1
        if r.status == FULFILLED and r.fulfilled_at and since <= r.fulfilled_at < until:
            key = (f"{r.fulfilled_at:%Y-%m}", r.agency_name, r.agency_ori)
            row = shares.setdefault(key, {"month": key[0], "agency": key[1], "ori": key[2], "shares": 0, "reads": 0})
            row["shares"] += 1
            row["reads"] += r.reads_shared
    return {
        "from": since, "to": until, "requests_received": received,
        "shares": [shares[k] for k in sorted(shares)],
        "refusals": [{"code": c, "reason": REASONS.get(c, c), "requests": n}
                     for c, n in sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0]))],
    }


def purgeable(req: ShareRequest, now: datetime, years: int) -> bool:
    """The file keeps a request ``years`` after its last activity; a request still open is kept."""
    return req.status not in (PENDING, APPROVED) and req.last_activity() < add_years(now, -years)
