"""The judgements behind the live checks, as pure functions of what the checks read, so each rule is
tested without a deployment and the I/O in ``checks`` stays thin."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from alpr.config import PolicyConfig
from alpr.domain.states import STATES
from alpr.store.users import User, refusal

PASS, FAIL, NOT_CHECKED = "pass", "fail", "not_checked"
# A hot-list record as alpr.hotlists.store writes it: the plate in clear, everything else sealed.
RECORD_KEYS = frozenset({"plate", "id", "kid", "nonce", "ct", "at", "st", "by", "exp"})
RECORD_REQUIRED = frozenset({"plate", "id", "kid", "nonce", "ct", "at"})
MIN_SEALED_BYTES = 16  # an AES-GCM tag alone; any sealed field is longer
# refusals that are no lapse of the policy but the account's state, set on purpose
NOT_LAPSES = ("account disabled", "account locked")


@dataclass(frozen=True)
class Surface:
    """What people can reach (commands and routes) and how each is classified."""

    commands: Collection[str]
    routes: Collection[str]
    audited_commands: Mapping[str, tuple[str, ...]]
    unaudited_commands: Mapping[str, str]
    route_actions: Mapping[str, str]
    public_routes: Mapping[str, str]
    gate_events: Collection[str] = ()


def covering(command: str, keys: Iterable[str]) -> str | None:
    """The most specific classification key that covers a command (itself, or a group above it)."""
    found = [k for k in keys if command == k or command.startswith(k + " ")]
    return max(found, key=len) if found else None


def surface_problems(s: Surface, actions: Collection[str]) -> list[str]:
    """Commands and routes nobody classified, and audited actions the role table does not know."""
    out = []
    keys = [*s.audited_commands, *s.unaudited_commands]
    out += [f"command `alpr {c}` is not classified" for c in s.commands if covering(c, keys) is None]
    out += [f"command `alpr {c}` is classified both audited and not" for c in s.audited_commands
            if c in s.unaudited_commands]
    known = set(actions) | set(s.gate_events)
    out += [f"command `alpr {c}` records {a!r}, which the role table lacks"
            for c, acts in s.audited_commands.items() for a in acts if a not in actions]
    out += [f"route {r} is not classified" for r in s.routes
            if r not in s.route_actions and r not in s.public_routes]
    out += [f"route {r} records {a!r}, which the role table lacks" for r, a in s.route_actions.items()
            if a not in known]
    return out


def stale_classifications(s: Surface) -> list[str]:
    """Classified commands that no longer exist (harmless to compliance, but the list should be true)."""
    return [k for k in [*s.audited_commands, *s.unaudited_commands]
            if not any(c == k or c.startswith(k + " ") for c in s.commands)]


def lapsed(users: Iterable[User], today: date, policy: PolicyConfig) -> list[tuple[str, str]]:
    """(username, why) for each enabled, unlocked account that the policy would keep out today:
    training, CLETS certification or policy review lapsed, a contractor unvetted, an approver
    without an approving rank."""
    out = []
    for u in users:
        why = refusal(u, today, policy)
        if why and not why.startswith(NOT_LAPSES):
            out.append((u.username, why))
    return sorted(out)


def _readable(data: bytes) -> bool:
    """Bytes that are text (JSON or words) rather than ciphertext."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.isprintable() or _json(text)


def _json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def record_problems(rec: object) -> list[str]:
    """Why one hot-list record may hold a non-plate field in clear; empty when it is sealed as it should."""
    if not isinstance(rec, dict):
        return [f"a record is {type(rec).__name__}, not an object"]
    out = []
    extra = sorted(set(rec) - RECORD_KEYS)
    if extra:
        out.append(f"fields outside the sealed layout: {', '.join(extra)}")
    if "st" in rec and rec["st"] not in STATES:  # a USPS code, never free text
        out.append(f"st {str(rec['st'])[:8]!r} is not a state code")
    missing = sorted(RECORD_REQUIRED - set(rec))
    if missing:
        out.append(f"missing {', '.join(missing)}")
    ct = rec.get("ct")
    if "ct" in rec:
        try:
            raw = base64.b64decode(ct, validate=True) if isinstance(ct, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None:
            out.append("ct is not base64 ciphertext")
        elif len(raw) < MIN_SEALED_BYTES or _readable(raw):
            out.append("ct decodes to readable text, not ciphertext")
    for key in ("by", "id", "kid", "plate"):
        if key in rec and not isinstance(rec[key], str):
            out.append(f"{key} is not a string")
    return out


def clause_result(results: Iterable[str]) -> str:
    """A clause fails when any of its checks fails, passes when all ran and passed, else not checked."""
    results = list(results)
    if FAIL in results:
        return FAIL
    return PASS if results and all(r == PASS for r in results) else NOT_CHECKED
