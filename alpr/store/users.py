"""Named users: who they are, their role and organisation, and whether the policy lets them in today.

The policy admits only trained users with a current CLETS certification who reviewed the use policy
within the year; contractors also need vetting and a signed waiver. ``refusal`` is that rule as pure
code; ``change_refusal``, ``bootstrap_refusal`` and ``break_glass_refusal`` are the rules for changing
accounts (no admin certifies or promotes themselves, the last admin stays, no dates beyond the policy);
``UserStore`` keeps users in ClickHouse, one versioned row per change.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client

from alpr.config import PolicyConfig
from alpr.domain.dates import add_years
from alpr.domain.roles import ADMIN, APPROVER, CONTRACTOR, ROLES

_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")


class UserError(ValueError):
    """A user change that cannot be made; the message says why."""


@dataclass(frozen=True)
class User:
    username: str
    full_name: str
    organisation: str
    role: str
    rank: str = ""
    unit: str = ""  # officers: the camera id of their mobile unit's system; they see its hits on the console
    password_hash: str = ""
    disabled: bool = False
    locked: bool = False
    must_change_password: bool = False  # set by break-glass: the session may only change its password
    trained_at: date | None = None
    certified_until: date | None = None  # CLETS certification expiry
    policy_reviewed_at: date | None = None
    vetted_at: date | None = None  # contractors only
    waiver_signed_at: date | None = None  # contractors only
    created_at: datetime | None = None
    updated_at: datetime | None = None


def check_new(username: str, role: str, rank: str, policy: PolicyConfig) -> None:
    if not _USERNAME.match(username):
        raise UserError(f"username {username!r}: 2-64 lower-case letters, digits, '.', '_' or '-', starting with a letter")
    check_role(role, rank, policy)


def check_role(role: str, rank: str, policy: PolicyConfig) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    ranks = approver_ranks(policy)
    if role == APPROVER and rank not in ranks:
        raise UserError(f"an approver needs an approving rank ({', '.join(ranks)})")


def check_unit(unit: str) -> str:
    """A unit is the camera id of the unit's mobile system (printable, as frames name cameras); empty: none."""
    unit = unit.strip()
    if len(unit) > 128 or not unit.isprintable():
        raise UserError("a unit is the camera id of the unit's system: at most 128 printable characters")
    return unit


def approver_ranks(policy: PolicyConfig) -> list[str]:
    return [r.strip() for r in policy.approver_ranks.split(",") if r.strip()]


def refusal(user: User, today: date, policy: PolicyConfig) -> str | None:
    """Why the policy keeps this user out today; None when they may use the system."""
    if user.disabled:
        return "account disabled"
    if user.locked:
        return "account locked after failed logons: an administrator must unlock it"
    if user.trained_at is None:
        return "training not recorded"
    if policy.training_valid_days and today - user.trained_at > timedelta(days=policy.training_valid_days):
        return "training expired"
    if user.certified_until is None:
        return "CLETS certification not recorded"
    if user.certified_until < today:
        return f"CLETS certification expired on {user.certified_until}"
    if user.policy_reviewed_at is None or today - user.policy_reviewed_at > timedelta(days=policy.policy_review_days):
        return f"policy review older than {policy.policy_review_days} days"
    if user.role == CONTRACTOR and (user.vetted_at is None or user.waiver_signed_at is None):
        return "contractor vetting or signed waiver missing"
    if user.role == APPROVER and user.rank not in approver_ranks(policy):
        return "approver without an approving rank"
    return None


# Changes an admin may not make to their own account: a second admin vouches for each.
SELF_CHANGES = frozenset({"set-role", "set-unit", "record-training", "record-certification", "record-policy-review",
                          "record-contractor-vetting"})
CHANGES = ("disable", "enable", "unlock", *sorted(SELF_CHANGES))
_PAST_DATES = {"trained_at": "a training date", "policy_reviewed_at": "a policy review date",
               "vetted_at": "a vetting date", "waiver_signed_at": "a waiver date"}


def working_admin(user: User) -> bool:
    """An admin who can act now: enabled and not locked out."""
    return user.role == ADMIN and not user.disabled and not user.locked


def apply_change(user: User, change: str, policy: PolicyConfig, *, role: str = "", rank: str = "",
                 unit: str = "", on: date | None = None, until: date | None = None, waiver_signed: date | None = None) -> User:
    """The user after one admin change (``on`` is the date recorded; ``until`` a certification's expiry)."""
    if change == "disable":
        return replace(user, disabled=True)
    if change == "enable":
        return replace(user, disabled=False)
    if change == "unlock":
        return replace(user, locked=False)
    if change == "set-role":
        check_role(role, rank, policy)
        return replace(user, role=role, rank=rank)
    if change == "set-unit":
        return replace(user, unit=check_unit(unit))
    if change == "record-training":
        return replace(user, trained_at=on)
    if change == "record-certification":
        return replace(user, certified_until=until)
    if change == "record-policy-review":
        return replace(user, policy_reviewed_at=on)
    if change == "record-contractor-vetting":
        return replace(user, vetted_at=on, waiver_signed_at=waiver_signed)
    raise UserError(f"unknown change {change!r} (changes: {', '.join(CHANGES)})")


def dates_refusal(before: User | None, after: User, today: date, policy: PolicyConfig) -> str | None:
    """Why the dates recorded for ``after`` go beyond the policy: events in the future, or a certification
    running longer than ``policy.certification_max_years``. Only changed dates are checked."""
    def changed(name: str) -> date | None:
        value = getattr(after, name)
        return value if before is None or getattr(before, name) != value else None

    for name, label in _PAST_DATES.items():
        value = changed(name)
        if value and value > today:
            return f"{label} may not be in the future ({value})"
    until = changed("certified_until")
    limit = add_years(today, policy.certification_max_years)
    if until and until > limit:
        return (f"a CLETS certification runs at most {policy.certification_max_years} years: "
                f"expiry {until} is after {limit}")
    return None


def change_refusal(actor: User, before: User, after: User, change: str, everyone: list[User], today: date,
                   policy: PolicyConfig) -> str | None:
    """Why the admin ``actor`` may not make this change; None when they may."""
    if actor.username == before.username and change in SELF_CHANGES:
        return f"an admin may not {change.replace('-', ' ')} on their own account: another admin must"
    others = [u for u in everyone if u.username != before.username]
    if working_admin(before) and not working_admin(after) and not any(working_admin(u) for u in others):
        return "that would leave no enabled, unlocked admin"
    return dates_refusal(before, after, today, policy)


def bootstrap_refusal(username: str, everyone: list[User]) -> str | None:
    """Why the first admin may not be created from the local CLI now: only while no enabled admin exists."""
    admins = [u.username for u in everyone if u.role == ADMIN and not u.disabled]
    if admins:
        return (f"an enabled admin exists ({', '.join(admins)}): they add users; "
                "a locked or disabled only admin is recovered with `alpr users break-glass`")
    if any(u.username == username for u in everyone):
        return f"user {username} exists"
    return None


def break_glass_refusal(target: User | None, username: str, everyone: list[User], euid: int) -> str | None:
    """Why root may not recover this admin account now: only local root, only an admin, only when no other
    enabled, unlocked admin could unlock or enable it."""
    if euid != 0:
        return "break-glass needs local root"
    if target is None:
        return f"no user {username}"
    if target.role != ADMIN:
        return f"{username} is not an admin: break-glass recovers the only admin"
    others = [u.username for u in everyone if u.username != username and working_admin(u)]
    if others:
        return f"another admin can unlock or enable {username}: {', '.join(others)}"
    return None


def lapsing(user: User, today: date, policy: PolicyConfig, days: int) -> list[str]:
    """What lapses for this user within ``days`` (for the auditors' report)."""
    soon = today + timedelta(days=days)
    out = []
    if user.certified_until and today <= user.certified_until <= soon:
        out.append(f"CLETS certification expires {user.certified_until}")
    if user.policy_reviewed_at:
        due = user.policy_reviewed_at + timedelta(days=policy.policy_review_days)
        if today <= due <= soon:
            out.append(f"policy review due {due}")
    return out


_COLUMNS = [f.name for f in fields(User)] + ["version"]


class UserStore:
    """Users in ClickHouse. ``get(name, max_age_s=N)`` may answer from a short per-process cache:
    the gate checks every request, and changes that must bite at once (disable, role) also end the
    user's sessions."""

    def __init__(self, client: Client, db: str):
        self.client = client
        self.table = f"{db}.users"
        self._cache: dict[str, tuple[float, User | None]] = {}

    def get(self, username: str, max_age_s: float = 0) -> User | None:
        cached = self._cache.get(username)
        if cached and time.monotonic() - cached[0] <= max_age_s:
            return cached[1]
        result = self.client.query(f"SELECT * EXCEPT version FROM {self.table} FINAL WHERE username = %(u)s",
                                   parameters={"u": username})
        user = _user(dict(zip(result.column_names, result.result_rows[0]))) if result.result_rows else None
        self._cache[username] = (time.monotonic(), user)
        return user

    def all(self) -> list[User]:
        result = self.client.query(f"SELECT * EXCEPT version FROM {self.table} FINAL ORDER BY username")
        return [_user(dict(zip(result.column_names, r))) for r in result.result_rows]

    def put(self, user: User) -> User:
        now = datetime.now(timezone.utc)
        user = replace(user, created_at=user.created_at or now, updated_at=now)
        row = asdict(user)
        self.client.insert(self.table, [[*row.values(), time.time_ns()]], column_names=_COLUMNS)
        self._cache.pop(user.username, None)
        return user


def _user(row: dict) -> User:
    for key in ("disabled", "locked", "must_change_password"):
        row[key] = bool(row[key])
    for key in ("created_at", "updated_at"):
        if row[key] is not None and row[key].tzinfo is None:
            row[key] = row[key].replace(tzinfo=timezone.utc)
    return User(**row)
