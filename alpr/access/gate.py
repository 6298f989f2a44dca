"""The gate every access goes through: logon, session, the policy's eligibility rules, the role table,
a stated purpose, and one audit record per decision, written before any data leaves.

    with access.use(caller, "search_reads", terms=q.terms(), plates=[q.plate]) as grant:
        page = search(...)
        grant.rows = len(page.reads)
    return page          # only reached once the audit record is written

A refused access raises ``AccessDenied`` (after its audit record is written); an access whose
audit record cannot be written raises ``AuditUnavailable`` and returns nothing (fail closed).
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Iterator

import redis
from clickhouse_connect.driver.client import Client

from alpr.access.sessions import Sessions
from alpr.config import Config
from alpr.domain import passwords, roles
from alpr.metrics import ACCESS_DECISIONS
from alpr.store import users
from alpr.store.audit import ALLOWED, DENIED, ERROR, AuditLog, AuditRecord, AuditUnavailable, KeySource
from alpr.store.users import User, UserError, UserStore

__all__ = ["Access", "AccessDenied", "AuditUnavailable", "Caller", "Grant"]

USER_CACHE_S = 5.0  # how stale a user record may be on the request path (never at logon)
_BAD_LOGON = "unknown user or wrong password"  # one message for both, so names cannot be probed
_LOCKED = "account locked after failed logons: an administrator must unlock it"
# An unknown name answers "locked" after as many failures as a real account, for as long as a real
# lock would plausibly last, so probing cannot tell the two apart.
UNKNOWN_LOCK_S = 30 * 24 * 3600
CHANGE_PASSWORD = "password change required: run alpr passwd"


@functools.cache
def _dummy_hash() -> str:
    """Checked against for unknown users, so their logon takes as long as a real one."""
    return passwords.hash_password("a password nobody has, for equal logon timing")


class AccessDenied(PermissionError):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """Who is asking, from where, and why: what every request carries."""

    token: str
    client_ip: str
    purpose: str = ""
    case_id: str = ""
    origin: str = ""  # the CLI's host and OS user, beside anything self-reported; empty for the API


@dataclass
class Grant:
    """A permitted access in progress; the caller fills in what it returned."""

    user: User
    action: str
    terms: dict = field(default_factory=dict)
    plates: list[str] = field(default_factory=list)
    rows: int = 0
    ref: str = field(default_factory=lambda: uuid.uuid4().hex)  # ties database query logs to the audit record


class Access:
    def __init__(self, cfg: Config, client: Client, r: redis.Redis):
        db = cfg.clickhouse.database
        self.client = client  # the database the gate guards, for the callers' own queries
        self.policy = cfg.policy
        self.users = UserStore(client, db)
        # the chain's key lives apart from the database; the embedded defaults make one on first write
        self.audit = AuditLog(client, db, r, KeySource(cfg.audit_key_path, create=cfg.clickhouse_url.startswith("chdb:")))
        self.sessions = Sessions(r, cfg.policy, namespace=f"alpr:{db}")
        self.redis = r
        self.failed_prefix = f"alpr:{db}:failed-logons:"

    # -- audit ---------------------------------------------------------------------------------
    def _record(self, user: User | None, username: str, action: str, outcome: str, reason: str, caller: Caller,
                terms: dict | None = None, plates: list[str] | tuple = (), rows: int = 0) -> int:
        ACCESS_DECISIONS.labels(action, outcome).inc()
        return self.audit.write(AuditRecord(
            username=username, action=action, outcome=outcome, reason=reason,
            organisation=user.organisation if user else "", role=user.role if user else "",
            client_ip=caller.client_ip, origin=caller.origin, terms=terms or {}, plates=tuple(p for p in plates if p),
            purpose=caller.purpose, case_id=caller.case_id, rows=rows))

    def _deny(self, user: User | None, username: str, action: str, reason: str, caller: Caller, **kw) -> AccessDenied:
        self._record(user, username, action, DENIED, reason, caller, **kw)
        return AccessDenied(reason)

    # -- logon -----------------------------------------------------------------------------------
    def logon(self, username: str, password: str, client_ip: str, origin: str = "") -> str:
        """A session token, or AccessDenied with the reason (audited either way).

        An unknown name gets the same answers, in the same time, as a real one with a wrong password:
        its failures are counted too and it "locks" at the same count (only real accounts are locked).
        Other refusals (disabled, lapsed) are told only to someone who knows the password."""
        caller = Caller("", client_ip, origin=origin)
        user = self.users.get(username)
        key = self.failed_prefix + username
        locked = user.locked if user else int(self.redis.get(key) or 0) >= self.policy.max_failed_logons
        right = passwords.verify_password(password, user.password_hash if user else _dummy_hash()) and bool(user)
        if locked:
            raise self._deny(user, username, "logon", _LOCKED, caller)
        if not right:
            failures = self.redis.incr(key)
            if failures == 1:
                self.redis.expire(key, self.policy.lockout_window_min * 60)
            if failures >= self.policy.max_failed_logons:
                if user:
                    self.users.put(replace(user, locked=True))
                    self.sessions.end_all(username)
                    self.redis.delete(key)
                else:
                    self.redis.expire(key, UNKNOWN_LOCK_S)
                raise self._deny(user, username, "logon", f"{_BAD_LOGON}; account locked after {failures} failures",
                                 caller)
            raise self._deny(user, username, "logon", f"{_BAD_LOGON} ({failures} of {self.policy.max_failed_logons})",
                             caller)
        why = users.refusal(user, date.today(), self.policy)
        if why:
            raise self._deny(user, username, "logon", why, caller)
        self.redis.delete(self.failed_prefix + username)
        if passwords.needs_rehash(user.password_hash):
            self.users.put(replace(user, password_hash=passwords.hash_password(password)))
        token = self.sessions.start(username, client_ip)
        self._record(user, username, "logon", ALLOWED, "", caller)
        return token

    def logout(self, caller: Caller) -> None:
        session = self.sessions.get(caller.token)
        self.sessions.end(caller.token)
        if session:
            self._record(self.users.get(session.username), session.username, "logout", ALLOWED, "", caller)

    def whoami(self, caller: Caller) -> User:
        """The live session's user, or AccessDenied (audited) without one."""
        session = self.sessions.get(caller.token)
        user = self.users.get(session.username) if session else None
        if user is None:
            raise self._deny(None, "", "session", "not logged on, or the session expired", caller)
        return user

    # -- the gate --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def use(self, caller: Caller, action: str, *, terms: dict | None = None,
            plates: list[str] | tuple = ()) -> Iterator[Grant]:
        terms, plates = terms or {}, list(plates)
        session = self.sessions.get(caller.token)
        user = self.users.get(session.username, max_age_s=USER_CACHE_S) if session else None
        if user is None:
            raise self._deny(None, session.username if session else "", action,
                             "not logged on, or the session expired", caller, terms=terms, plates=plates)
        why = users.refusal(user, date.today(), self.policy)
        if why:
            self.sessions.end(caller.token)
            raise self._deny(user, user.username, action, why, caller, terms=terms, plates=plates)
        if user.must_change_password and action != "change_own_password":
            raise self._deny(user, user.username, action, CHANGE_PASSWORD, caller, terms=terms, plates=plates)
        why = roles.refusal(action, user.role, caller.purpose, caller.case_id, self.policy.purpose_min_length)
        if why:
            raise self._deny(user, user.username, action, why, caller, terms=terms, plates=plates)
        grant = Grant(user, action, terms, plates)
        try:
            yield grant
        except AccessDenied:
            raise
        except Exception as exc:
            self._record(user, user.username, action, ERROR, f"{type(exc).__name__}: {exc}"[:500], caller,
                         terms=grant.terms, plates=grant.plates)
            raise
        self._record(user, user.username, action, ALLOWED, "", caller, terms={**grant.terms, "ref": grant.ref},
                     plates=grant.plates, rows=grant.rows)

    def still_allowed(self, caller: Caller, action: str) -> str | None:
        """Why a long-lived access (the console's stream) must end now, without renewing the session's
        idle timer or writing a record (its opening was audited); None while it may go on."""
        session = self.sessions.peek(caller.token)
        user = self.users.get(session.username, max_age_s=USER_CACHE_S) if session else None
        if user is None:
            return "not logged on, or the session expired"
        return users.refusal(user, date.today(), self.policy) or roles.refusal(
            action, user.role, caller.purpose, caller.case_id, self.policy.purpose_min_length)

    def refuse(self, grant: Grant, caller: Caller, reason: str) -> AccessDenied:
        """Inside ``use``: the permitted request cannot be carried out as asked (a rule of the action
        itself); audited as denied with the reason, to be raised by the caller."""
        return self._deny(grant.user, grant.user.username, grant.action, reason, caller, terms=grant.terms,
                          plates=grant.plates)

    def record_invalid(self, caller: Caller, action: str, detail: str) -> None:
        """A request refused before it could be checked (malformed): audited like any refusal."""
        session = self.sessions.get(caller.token)
        user = self.users.get(session.username) if session else None
        self._record(user, user.username if user else "", action, DENIED, f"invalid request: {detail}", caller)

    # -- accounts ----------------------------------------------------------------------------------
    def change_password(self, caller: Caller, old: str, new: str) -> None:
        with self.use(caller, "change_own_password") as grant:
            user = grant.user
            if not passwords.verify_password(old, user.password_hash):
                raise self._deny(user, user.username, "change_own_password", "the current password is wrong", caller)
            if new == old:
                raise self._deny(user, user.username, "change_own_password", "the new password is the current one",
                                 caller)
            passwords.check_policy(new, user.username, self.policy.password_min_length)
            self.users.put(replace(user, password_hash=passwords.hash_password(new), must_change_password=False))

    def change_user(self, caller: Caller, username: str, change: str, terms: dict, **values) -> User:
        """One admin change to an account (``users.apply_change``), under the rules for admins
        (``users.change_refusal``); a change that locks a user out also ends their sessions."""
        with self.use(caller, "manage_users", terms=terms) as grant:
            before = self.users.get(username)
            if before is None:
                raise UserError(f"no user {username}")
            after = users.apply_change(before, change, self.policy, **values)
            why = users.change_refusal(grant.user, before, after, change, self.users.all(), date.today(), self.policy)
            if why:
                raise self._deny(grant.user, grant.user.username, "manage_users", why, caller, terms=terms)
            after = self.users.put(after)
            if change in ("disable", "set-role", "set-unit"):  # what they may see changed
                self.sessions.end_all(username)
            grant.rows = 1
        return after

    # -- local recovery (the CLI on the server only, never the API) ---------------------------------------
    def bootstrap_admin(self, user: User, caller: Caller) -> User:
        """Create the first admin, able to log on: only while no enabled admin exists (audited).

        Training and the policy review are recorded as of today (whoever runs this vouches for them);
        the CLETS certification must be given, as ``users.refusal`` requires one of every user."""
        terms = {"command": "bootstrap-admin", "username": user.username, "certified_until": str(user.certified_until)}
        today = date.today()
        user = replace(user, role=roles.ADMIN, trained_at=today, policy_reviewed_at=today, disabled=False,
                       locked=False, must_change_password=False)
        why = (users.bootstrap_refusal(user.username, self.users.all())
               or users.dates_refusal(None, user, today, self.policy) or users.refusal(user, today, self.policy))
        if why:
            raise self._deny(None, user.username, "bootstrap_admin", why, caller, terms=terms)
        self._record(user, user.username, "bootstrap_admin", ALLOWED, "first admin, from the local CLI", caller,
                     terms=terms, rows=1)
        return self.users.put(user)

    def break_glass(self, username: str, password_hash: str, caller: Caller, euid: int) -> User:
        """Root's recovery of the only admin when locked or disabled (audited): enables and unlocks the
        account with a new password that must be changed at the next logon."""
        terms = {"command": "break-glass", "username": username}
        user = self.users.get(username)
        why = users.break_glass_refusal(user, username, self.users.all(), euid)
        if why:
            raise self._deny(user, username, "break_glass", why, caller, terms=terms)
        self._record(user, username, "break_glass", ALLOWED, "only admin recovered by local root", caller,
                     terms=terms, rows=1)
        user = self.users.put(replace(user, disabled=False, locked=False, password_hash=password_hash,
                                      must_change_password=True))
        self.sessions.end_all(username)
        self.redis.delete(self.failed_prefix + username)
        return user
