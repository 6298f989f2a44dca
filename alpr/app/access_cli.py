"""``alpr login|logout|passwd``, ``alpr users ...`` and ``alpr audit ...``; the CLI's session handling.

A logon stores the session token in a 0600 file under the data directory (or take it from
``ALPR_SESSION``); every later command presents it with its purpose and case number.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import io
import json
import os
import pwd
import socket
import sys
from datetime import date, datetime
from pathlib import Path

import redis

from alpr.access.gate import Access, Caller
from alpr.app.cli_util import say, when
from alpr.config import Config
from alpr.domain import passwords, roles
from alpr.store import audit_report, db
from alpr.store.audit import AuditRecord, Checkpoint
from alpr.store.users import User, UserError, check_new, check_unit


def open_access(cfg: Config) -> Access:
    client = db.connect(cfg)
    db.migrate(client, cfg)
    return Access(cfg, client, redis.Redis.from_url(cfg.redis.url))


def _os_user() -> str:
    """The real user's name from the system (USER and LOGNAME are only what the environment claims)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _token_file(cfg: Config) -> Path:
    return Path(cfg.data_dir) / "sessions" / f"{_os_user()}.token"


def client_ip() -> str:
    """The CLI runs on this machine, so that is the address it can vouch for; where a remote user
    says they come from (SSH_CLIENT) is only self-reported and goes in ``origin``."""
    return "127.0.0.1"


def origin() -> str:
    """This host and the real OS user (uid and name from the system, not from environment variables),
    then what the environment only claims, marked as such."""
    uid, euid = os.getuid(), os.geteuid()
    parts = [f"cli host={socket.gethostname()} uid={uid} user={_os_user()}"] + ([f"euid={euid}"] if euid != uid else [])
    ssh = os.environ.get("SSH_CLIENT", "").split()
    if ssh:
        claimed = "".join(c for c in ssh[0][:64] if c.isprintable() and not c.isspace())
        parts.append(f"ssh_client={claimed}(self-reported)")
    return " ".join(parts)


def caller(cfg: Config, args: argparse.Namespace) -> Caller:
    token = os.environ.get("ALPR_SESSION", "")
    if not token and _token_file(cfg).is_file():
        token = _token_file(cfg).read_text().strip()
    return Caller(token, client_ip(), purpose=getattr(args, "purpose", None) or "",
                  case_id=getattr(args, "case", None) or "", origin=origin())


def _read_password(args: argparse.Namespace, prompt: str = "Password: ", confirm: bool = False) -> str:
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != first:
        raise UserError("the passwords differ")
    return first


def _date(text: str) -> date:
    return date.fromisoformat(text)



# -- logon -----------------------------------------------------------------------------------------

def cmd_login(cfg: Config, args: argparse.Namespace) -> int:
    access = open_access(cfg)
    token = access.logon(args.username, _read_password(args), client_ip(), origin())
    path = _token_file(cfg)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    say(f"logged on as {args.username}; the session ends after {cfg.policy.session_idle_min} minutes idle "
         f"or {cfg.policy.session_hours} hours")
    if access.users.get(args.username).must_change_password:
        say("your password was reset: run alpr passwd before anything else")
    return 0


def cmd_logout(cfg: Config, args: argparse.Namespace) -> int:
    open_access(cfg).logout(caller(cfg, args))
    _token_file(cfg).unlink(missing_ok=True)
    say("logged out")
    return 0


def cmd_passwd(cfg: Config, args: argparse.Namespace) -> int:
    access = open_access(cfg)
    old = _read_password(args, "Current password: ")
    new = _read_password(args, "New password: ", confirm=not args.password_stdin)
    access.change_password(caller(cfg, args), old, new)
    say("password changed")
    return 0


# -- users -----------------------------------------------------------------------------------------

def _show(u: User) -> dict:
    """A user as JSON, without the password hash."""
    return {k: (str(v) if isinstance(v, (date, datetime)) else v) for k, v in u.__dict__.items() if k != "password_hash"}


def cmd_users(cfg: Config, args: argparse.Namespace) -> int:
    access = open_access(cfg)
    me = caller(cfg, args)
    action = args.action
    if action in ("list", "show"):
        with access.use(me, "view_users", terms={"command": action, "username": getattr(args, "username", "")}) as g:
            found = access.users.all() if action == "list" else [access.users.get(args.username)]
            found = [u for u in found if u]
            g.rows = len(found)
        if action == "show" and not found:
            say(f"no user {args.username}")
            return 1
        for u in found:
            print(json.dumps(_show(u)) if action == "show" else
                  f"{u.username:20} {u.role:10} {u.organisation:24} " + ("disabled" if u.disabled else "locked"
                                                                          if u.locked else "active"))
        return 0
    if action == "roles":
        for name, allowed, purpose, case in roles.table():
            print(f"{name:22} {','.join(allowed):48} {'purpose' if purpose else '':8} {'case' if case else ''}")
        return 0

    terms = {k: str(v) for k, v in vars(args).items()
             if k not in ("func", "command", "config", "verbose", "password_stdin") and v is not None}
    if action == "add":
        check_new(args.username, args.role, args.rank or "", cfg.policy)
        password = _read_password(args, "New user's password: ", confirm=not args.password_stdin)
        passwords.check_policy(password, args.username, cfg.policy.password_min_length)
        user = User(args.username, args.name, args.org, args.role, rank=args.rank or "", unit=check_unit(args.unit),
                    password_hash=passwords.hash_password(password))
        with access.use(me, "manage_users", terms=terms):
            if access.users.get(args.username):
                raise UserError(f"user {args.username} exists")
            access.users.put(user)
        say(f"added {args.username} ({args.role}); record training, certification and policy review before "
             "the first logon")
        return 0
    if action == "bootstrap-admin":
        check_new(args.username, roles.ADMIN, "", cfg.policy)
        password = _read_password(args, "The admin's password: ", confirm=not args.password_stdin)
        passwords.check_policy(password, args.username, cfg.policy.password_min_length)
        access.bootstrap_admin(User(args.username, args.name, args.org, roles.ADMIN,
                                    password_hash=passwords.hash_password(password),
                                    certified_until=args.certified_until), me)
        say(f"added the first admin {args.username}, trained and policy reviewed as of today; log on with "
             f"alpr login {args.username}")
        return 0
    if action == "break-glass":
        password = _read_password(args, "New password: ", confirm=not args.password_stdin)
        passwords.check_policy(password, args.username, cfg.policy.password_min_length)
        access.break_glass(args.username, passwords.hash_password(password), me, os.geteuid())
        say(f"{args.username} is enabled and unlocked; the password must be changed at the next logon (alpr passwd)")
        return 0

    access.change_user(me, args.username, action, terms, role=getattr(args, "role", None) or "",
                       rank=getattr(args, "rank", None) or "", unit=getattr(args, "unit", None) or "", on=getattr(args, "date", None),
                       until=getattr(args, "until", None), waiver_signed=getattr(args, "waiver_signed", None))
    say(f"{args.username}: {action} recorded")
    return 0


# -- audit -----------------------------------------------------------------------------------------

def cmd_audit(cfg: Config, args: argparse.Namespace) -> int:
    access = open_access(cfg)
    me = caller(cfg, args)
    if args.action == "verify":
        given = []
        for path in args.checkpoint or []:
            try:
                given.append((path, Checkpoint.from_json(Path(path).read_text())))
            except (OSError, ValueError) as exc:
                say(f"error: checkpoint {path}: {exc}")
                return 2
        with access.use(me, "audit_verify", terms={"checkpoints": args.checkpoint or []}) as g:
            check = access.audit.check(given)
            g.rows = check.records
        for p in check.problems:
            print(f"problem: {p}")
        if check.legacy:
            print(f"{check.legacy} legacy unkeyed records (written before the chain was keyed, plain SHA-256): "
                  "the keyed records after them cover them")
        print(f"{check.records} records, {check.checkpoints} checkpoints: "
              + ("chain intact" if not check.problems else f"{len(check.problems)} PROBLEMS"))
        return 0 if not check.problems else 1
    if args.action == "checkpoint":
        with access.use(me, "audit_checkpoint", terms={"out": args.out or ""}) as g:
            check = access.audit.check()
            g.rows = check.records
            point = None if check.problems else access.audit.checkpoint(check)
        if point is None:
            for p in check.problems:
                print(f"problem: {p}")
            say("no checkpoint made: the chain has problems")
            return 1
        if args.out:
            Path(args.out).write_text(point.to_json())
            say(f"wrote the checkpoint of record {point.seq} to {args.out}: keep it apart from this system")
        else:
            print(point.to_json(), end="")
        return 0
    if args.action == "rotate-key":
        keys = access.audit.keys
        if not keys.load().current:
            # the first key needs no session: without it no logon can be recorded, so none could be had
            kid = keys.rotate()
            access.audit.write(AuditRecord(username=f"local:{_os_user()}", action="audit_rotate_key",
                                           outcome="allowed", reason="first key", client_ip=me.client_ip,
                                           origin=origin()))
            say(f"created the first access-log key {kid} in {keys.path}: keep a copy apart from the database")
            return 0
        try:
            with access.use(me, "audit_rotate_key") as g:
                kid = access.audit.keys.rotate()
                g.rows = 1
        except LookupError as exc:
            say(f"error: {exc}")
            return 2
        say(f"added access-log key {kid} to {access.audit.keys.path}: it signs new records; keep the older keys, "
            "they verify older records")
        return 0
    if args.action == "search":
        terms = {k: str(v) for k, v in (("user", args.user), ("plate", args.plate), ("action", args.what),
                                         ("outcome", args.outcome), ("from", args.since), ("to", args.until)) if v}
        with access.use(me, "audit_search", terms=terms, plates=[args.plate] if args.plate else []) as g:
            rows = access.audit.search(username=args.user or "", plate=args.plate or "", action=args.what or "",
                                       outcome=args.outcome or "", since=args.since, until=args.until,
                                       limit=cfg.policy.audit_read_limit)
            g.rows = len(rows)
        if args.csv:
            out = io.StringIO()
            w = csv.DictWriter(out, list(rows[0]) if rows else ["seq"], lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
            Path(args.csv).write_text(out.getvalue())
            say(f"wrote {len(rows)} records to {args.csv}")
        else:
            for r in rows:
                print(f"{r['seq']:>7} {r['at']:%Y-%m-%d %H:%M:%S} {r['username']:16} {r['client_ip']:15} "
                      f"{r['action']:18} {r['outcome']:8} {r['purpose'][:30]:30} {','.join(r['plates'])} {r['reason']}"
                      + (f" [{r['origin']}]" if r["origin"] else ""))
        return 0
    with access.use(me, "audit_report", terms={"from": str(args.since), "to": str(args.until)}) as g:
        report = audit_report.build(access.audit, access.users, cfg.policy, args.since, args.until)
        g.rows = report["records"]
    for p in audit_report.write(report, Path(args.out)):  # only once the access is on record
        say(f"wrote {p}")
    return 0


def cmd_sql(cfg: Config, args: argparse.Namespace) -> int:
    from alpr.store import sql_guard

    access = open_access(cfg)
    client = access.client
    with access.use(caller(cfg, args), "run_sql", terms={"sql": args.sql}) as grant:
        checked = sql_guard.check(client, args.sql, cfg.clickhouse.database)
        grant.plates = list(checked.plates)
        columns, rows, truncated = sql_guard.run(client, checked, audit_id=grant.ref, max_rows=args.max_rows)
        grant.rows = len(rows)
    w = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    if truncated:
        say(f"only the first {args.max_rows} rows are shown")
    return 0


def cmd_serve(cfg: Config, args: argparse.Namespace) -> int:
    from alpr.app import server
    from alpr.app.api import trusted_networks

    try:
        trusted_networks(cfg.api.trusted_proxies)
    except ValueError as exc:
        say(f"configuration error: {exc}")
        return 2
    server.build(cfg, args.host, args.port).run()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    lg = sub.add_parser("login", help="log on (the session lasts 12 hours, 30 minutes idle)")
    lg.add_argument("username")
    lg.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    lg.set_defaults(func=cmd_login)
    sub.add_parser("logout", help="end the session").set_defaults(func=cmd_logout)
    pw = sub.add_parser("passwd", help="change your password")
    pw.add_argument("--password-stdin", action="store_true", help="current, then new password, one per line")
    pw.set_defaults(func=cmd_passwd)

    u = sub.add_parser("users", help="people, roles, training, certification and policy review (admins)")
    us = u.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = us.add_parser("add", help="add a user (admins; the first admin: bootstrap-admin)")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="full name")
    add.add_argument("--org", required=True, help="organisation")
    add.add_argument("--role", required=True, choices=roles.ROLES)
    add.add_argument("--rank", help="approvers: the approving rank")
    add.add_argument("--unit", default="", help="officers: the camera id of their mobile unit (its hits reach them)")
    add.add_argument("--password-stdin", action="store_true")
    bs = us.add_parser("bootstrap-admin", help="local CLI only, while no enabled admin exists: the first admin, "
                       "trained and policy reviewed as of today")
    bs.add_argument("username")
    bs.add_argument("--name", required=True, help="full name")
    bs.add_argument("--org", required=True, help="organisation")
    bs.add_argument("--certified-until", type=_date, required=True,
                    help="the admin's CLETS certification expiry (the policy requires one of every user)")
    bs.add_argument("--password-stdin", action="store_true")
    bg = us.add_parser("break-glass", help="local root only, when no other enabled, unlocked admin exists: enable "
                       "and unlock the admin with a new password, to be changed at the next logon")
    bg.add_argument("username")
    bg.add_argument("--password-stdin", action="store_true")
    us.add_parser("list", help="every user and their state")
    us.add_parser("roles", help="the table of actions and the roles allowed each")
    for name, text in (("show", "one user"), ("disable", "refuse all access"), ("enable", "allow access again"),
                       ("unlock", "unlock after failed logons")):
        us.add_parser(name, help=text).add_argument("username")
    sr = us.add_parser("set-role", help="change a user's role")
    sr.add_argument("username")
    sr.add_argument("--role", required=True, choices=roles.ROLES)
    sr.add_argument("--rank")
    su = us.add_parser("set-unit", help="an officer's mobile unit: the camera id of its system ('' for none)")
    su.add_argument("username")
    su.add_argument("--unit", required=True)
    today = date.today()
    for name, text in (("record-training", "training completed"), ("record-policy-review", "use policy reviewed")):
        p = us.add_parser(name, help=text)
        p.add_argument("username")
        p.add_argument("--date", type=_date, default=today, help="when (default today)")
    rc = us.add_parser("record-certification", help="CLETS certification and its expiry")
    rc.add_argument("username")
    rc.add_argument("--until", type=_date, required=True, help="expiry date")
    rv = us.add_parser("record-contractor-vetting", help="contractor vetted and waiver signed")
    rv.add_argument("username")
    rv.add_argument("--date", type=_date, default=today, help="vetting date (default today)")
    rv.add_argument("--waiver-signed", type=_date, required=True, help="date the waiver was signed")
    u.set_defaults(func=cmd_users)

    a = sub.add_parser("audit", help="the access log: verify the chain, search it, report on it (auditors)")
    asub = a.add_subparsers(dest="action", required=True, metavar="ACTION")
    v = asub.add_parser("verify", help="detect changed, deleted, inserted, re-hashed or cut-off records")
    v.add_argument("--checkpoint", action="append", metavar="FILE",
                   help="a checkpoint file kept apart from this system (repeatable)")
    c = asub.add_parser("checkpoint", help="sign the chain's head and store it; keep the file it writes elsewhere")
    c.add_argument("--out", metavar="FILE", help="write the checkpoint here (default: print it)")
    asub.add_parser("rotate-key", help="add a new access-log key (admins); older keys stay to verify older records")
    s = asub.add_parser("search", help="search the access log")
    s.add_argument("--user")
    s.add_argument("--plate", help="accesses that named this plate")
    s.add_argument("--action", dest="what")
    s.add_argument("--outcome", choices=["allowed", "denied", "error"])
    s.add_argument("--from", dest="since", type=when)
    s.add_argument("--to", dest="until", type=when)
    s.add_argument("--csv", metavar="FILE")
    r = asub.add_parser("report", help="accesses per user and purpose, denials, red flags: CSV and HTML")
    r.add_argument("--from", dest="since", type=when, required=True)
    r.add_argument("--to", dest="until", type=when, required=True)
    r.add_argument("--out", default="audit-report", help="folder for report.html and the CSV files")
    for p in (v, c, s, r):
        p.add_argument("--purpose", default="", help="why you are reading the access log (required)")
    a.set_defaults(func=cmd_audit)

    q = sub.add_parser("sql", help="analysts: one read-only SELECT on the LPR tables, audited, as TSV")
    q.add_argument("sql", help="a SELECT (or WITH ... SELECT) on reads, read_images, hits or plates")
    q.add_argument("--purpose", default="", help="why you run it (required)")
    q.add_argument("--case", default="", help="case or incident number")
    q.add_argument("--max-rows", type=int, default=10_000)
    q.set_defaults(func=cmd_sql)

    sv = sub.add_parser("serve", help="the HTTP API (OpenAPI at /openapi.json); put TLS in front of it")
    sv.add_argument("--host", help="bind address (default api.host)")
    sv.add_argument("--port", type=int, help="port (default api.port)")
    sv.set_defaults(func=cmd_serve)
