"""``alpr hotlist ...``: import, edit, inspect and re-key hot lists.

Every change goes through the access gate (a session, the role table, a purpose, one audit record
naming the list, plate and entry ids): a change decides which plates raise hits, or never do.
``lists`` and ``skip list`` stay open: names, sizes, ages and known false plates, no LPR details,
and operations read them without logging on.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import redis

from alpr.access.gate import Grant
from alpr.app.cli_util import Exit, say, when
from alpr.config import Config
from alpr.crypto import Keyring, generate_key_file
from alpr.domain.matching import normalize_pattern
from alpr.domain.types import NewEntry
from alpr.hotlists.importer import FileError, check_plate, check_state, decode, lines_of, parse_csv, parse_state_feed
from alpr.hotlists.store import HotlistStore

MAX_ROWS_SHOWN = 20  # of each kind on the terminal; --report FILE gets every one
PROGRESS_LINES = 100_000  # a status line at least this often on a large file
PROGRESS_S = 2.0  # ... and at least this often in time


def _store(cfg: Config, need_key: bool) -> HotlistStore:
    keyring = Keyring.load(cfg.hotlist_key_path) if need_key else None
    return HotlistStore(redis.Redis.from_url(cfg.redis.url), keyring)


def _gate(cfg: Config, args: argparse.Namespace, action: str, terms: dict,
          plates: list[str] | tuple = ()) -> contextlib.AbstractContextManager[Grant]:
    """The access gate for a hot-list change: refused (exit 3) and audited without a permitted session."""
    from alpr.app.access_cli import caller, open_access

    return open_access(cfg).use(caller(cfg, args), action, terms=terms, plates=plates)


def _progress(lines: Iterable[str], name: str) -> Iterator[str]:
    """The lines unchanged, with a status line on stderr every PROGRESS_LINES lines or PROGRESS_S seconds."""
    last = time.monotonic()
    for n, line in enumerate(lines, 1):
        yield line
        if n % PROGRESS_LINES == 0 or time.monotonic() - last >= PROGRESS_S:
            say(f"{name}: read {n:,} lines")
            last = time.monotonic()


def _report_rows(name: str, kinds: dict[str, list[tuple[int, str]]], report: str | None) -> None:
    """Each skipped or altered row with its line number: the first few on stderr, every one in the report file."""
    for kind, rows in kinds.items():
        for line, why in rows[:MAX_ROWS_SHOWN]:
            say(f"{name}:{line}: {kind}: {why}")
        if len(rows) > MAX_ROWS_SHOWN:
            say(f"... and {len(rows) - MAX_ROWS_SHOWN} more rows {kind}" + (f" (all in {report})" if report else
                                                                           "; --report FILE lists every one"))
    if report:
        with open(report, "w", encoding="utf-8") as fh:
            fh.write("line\tkind\twhy\n")
            for line, kind, why in sorted((line, kind, why) for kind, rows in kinds.items() for line, why in rows):
                fh.write(f"{line}\t{kind}\t{why}\n")


def cmd_import(cfg: Config, args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    path = Path(args.file)
    if not path.is_file():
        say(f"error: {path} is not a file")
        return Exit.USAGE
    data = path.read_bytes()
    try:
        lines = _progress(lines_of(decode(data, args.encoding)), path.name)
    except FileError as exc:
        say(f"error: {path.name}: {exc}; list {args.list!r} left unchanged")
        return Exit.USAGE
    except LookupError:
        say(f"error: unknown encoding {args.encoding!r}")
        return Exit.USAGE
    if args.format == "csv":
        try:
            mapping = dict(_pairs(args.map, "--map")) if args.map else None
        except ValueError as exc:
            say(f"error: {exc}")
            return Exit.USAGE
        parsed = parse_csv(lines, mapping)
    else:
        parsed = parse_state_feed(lines)
    _report_rows(path.name, {"skipped": parsed.errors, "skipped as ended": parsed.expired,
                             "altered": parsed.altered}, args.report)
    if not parsed.entries:
        say(f"error: no valid entries in {path}; list {args.list!r} left unchanged")
        return Exit.FAILED
    if parsed.errors and args.strict:
        say(f"error: {len(parsed.errors)} bad rows and --strict; list {args.list!r} left unchanged")
        return Exit.FAILED
    store = _store(cfg, True)
    skipped = len(parsed.errors) + len(parsed.expired)
    terms = {"list": args.list, "file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "rows": parsed.rows,
             "skipped": skipped, "altered": len(parsed.altered)}
    with _gate(cfg, args, "edit_hotlist", terms) as grant:
        say(f"{args.list}: sealing and loading {len(parsed.entries):,} entries")
        n = store.replace(args.list, parsed.entries, source=path.name, by=grant.user.username)
        grant.rows = n
    summary = {"list": args.list, "rows": parsed.rows, "loaded": n, "skipped": skipped,
               "altered": len(parsed.altered), "seconds": round(time.monotonic() - t0, 2)}
    print(json.dumps(summary) if args.json else
          f"{args.list}: loaded {n} entries from {parsed.rows} rows, skipped {skipped}, "
          f"altered {len(parsed.altered)}, in {summary['seconds']} s (the list was replaced as a whole)")
    return Exit.OK


def _pairs(items: Iterable[str], option: str) -> Iterator[tuple[str, str]]:
    """NAME=VALUE arguments; ValueError naming the option for one without '='."""
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{option} {item!r}: expected NAME=VALUE")
        yield name, value


def cmd_add(cfg: Config, args: argparse.Namespace) -> int:
    try:
        plate = check_plate(args.plate)
        fields = dict(_pairs(args.field, "--field"))
        expires = when(args.expires) if args.expires else None
        state = check_state(args.state or "")
    except ValueError as exc:
        say(f"error: {exc}")
        return Exit.USAGE
    if expires is not None and expires <= datetime.now(timezone.utc):
        say(f"error: --expires {args.expires} has already passed")
        return Exit.USAGE
    store = _store(cfg, True)
    terms = {"list": args.list, "plate": plate, **({"state": state} if state else {}), "fields": sorted(fields),
             "expires": args.expires or ""}
    with _gate(cfg, args, "add_hotlist_entry", terms, [plate]) as grant:
        entry_id = store.add(args.list, NewEntry(plate, fields, expires, state), by=grant.user.username)
        grant.terms["entry_id"] = entry_id
        grant.rows = 1
    print(f"added {plate} to {args.list} as entry {entry_id}")
    return Exit.OK


def _plate_arg(text: str) -> str:
    """A plate or pattern as given on the command line, normalised; ValueError when nothing is left."""
    plate = normalize_pattern(text)
    if not plate:
        raise ValueError(f"plate {text!r} has no letters or digits")
    return plate


def cmd_remove(cfg: Config, args: argparse.Namespace) -> int:
    try:
        plate = _plate_arg(args.plate)
    except ValueError as exc:
        say(f"error: {exc}")
        return Exit.USAGE
    store = _store(cfg, False)
    with _gate(cfg, args, "edit_hotlist", {"list": args.list, "plate": plate, "entry_id": args.entry or ""},
               [plate]) as grant:
        removed = store.remove(args.list, plate, args.entry)
        grant.terms["entry_ids"] = removed
        grant.rows = len(removed)
    n = len(removed)
    print(f"removed {n} entr{'y' if n == 1 else 'ies'} for {plate} from {args.list}")
    return Exit.OK if n else Exit.FAILED


def cmd_show(cfg: Config, args: argparse.Namespace) -> int:
    """Decrypted entry details are sensitive: a session, a purpose and an audit record, like LPR data."""
    from alpr.app.access_cli import caller, open_access

    access = open_access(cfg)
    with access.use(caller(cfg, args), "view_hotlist_entry", terms={"list": args.list, "plate": args.plate},
                    plates=[args.plate]) as grant:
        rows = [{"list": e.list_name, "entry_id": e.entry_id, "plate": e.plate, "plate_state": e.state,
                 "key_id": e.sealed["kid"], **added,
                 **fields} for e, fields, added in _store(cfg, True).show(args.list, args.plate)]
        grant.rows = len(rows)
    if not rows:
        print(f"{args.plate} is not on {args.list}")
        return Exit.FAILED
    print(json.dumps(rows, indent=2))
    return Exit.OK


def cmd_lists(cfg: Config, args: argparse.Namespace) -> int:
    lists = _store(cfg, False).lists()
    if args.json:
        print(json.dumps(lists))
        return Exit.OK
    now = datetime.now(timezone.utc)
    for name, meta in lists.items():
        age = (now - datetime.fromisoformat(meta["refreshed_at"])).total_seconds() / 3600 if "refreshed_at" in meta else None
        print(f"{name:16} {meta.get('entries', '?'):>9} entries  "
              + (f"refreshed {age:.1f} h ago" if age is not None else "never refreshed")
              + (f"  from {meta['source']}" if meta.get("source") else ""))
    return Exit.OK


def cmd_expire(cfg: Config, args: argparse.Namespace) -> int:
    store = _store(cfg, False)
    if args.sweep:
        with _gate(cfg, args, "edit_hotlist", {"sweep": True}) as grant:
            grant.rows = store.sweep_expired()
        print(f"removed {grant.rows} expired entries")
        return Exit.OK
    if not (args.list and args.plate and args.entry and args.at):
        say("error: give --list, --plate, --entry and --at, or --sweep")
        return Exit.USAGE
    try:
        plate, at = _plate_arg(args.plate), when(args.at)
    except ValueError as exc:
        say(f"error: {exc}")
        return Exit.USAGE
    terms = {"list": args.list, "plate": plate, "entry_id": args.entry, "at": at.isoformat()}
    with _gate(cfg, args, "edit_hotlist", terms, [plate]) as grant:
        ok = store.set_expiry(args.list, plate, args.entry, at)
        grant.rows = int(ok)
    print(f"entry {args.entry} ends at {args.at}" if ok else f"no entry {args.entry} for {plate} on {args.list}")
    return Exit.OK if ok else Exit.FAILED


def cmd_keygen(cfg: Config, args: argparse.Namespace) -> int:
    with _gate(cfg, args, "manage_hotlist_keys", {"command": "keygen"}) as grant:
        grant.terms["key_id"] = kid = generate_key_file(cfg.hotlist_key_path)
    print(f"added key {kid} to {cfg.hotlist_key_path}; new entries are sealed with it")
    return Exit.OK


def cmd_rotate(cfg: Config, args: argparse.Namespace) -> int:
    with _gate(cfg, args, "manage_hotlist_keys", {"command": "rotate-key"}) as grant:
        grant.terms["key_id"] = kid = generate_key_file(cfg.hotlist_key_path)
        grant.rows = n = _store(cfg, True).rotate()
    print(f"re-encrypted {n} entries with new key {kid}; older keys in {cfg.hotlist_key_path} are no longer "
          "needed by Redis and can be retired once backups made with them have expired")
    return Exit.OK


def cmd_skip(cfg: Config, args: argparse.Namespace) -> int:
    store = _store(cfg, False)
    if args.action != "list":
        try:
            plates = sorted({_plate_arg(p) for p in args.plates})
        except ValueError as exc:
            say(f"error: {exc}")
            return Exit.USAGE
        if not plates:
            say(f"error: give the plates to {args.action}")
            return Exit.USAGE
        with _gate(cfg, args, "edit_skip_list", {"list": "skip", "change": args.action, "plates": plates},
                   plates) as grant:
            if args.action == "add":
                store.skip(plates, by=grant.user.username)
            else:
                store.unskip(plates)
            grant.rows = len(plates)
    for plate, added in store.skipped_by().items():
        print(f"{plate:12} added by {added['added_by']} at {added['added_at']}" if added["added_at"] else plate)
    return Exit.OK


def register(sub: argparse._SubParsersAction) -> None:
    h = sub.add_parser("hotlist", help="hot lists: stolen vehicles, warrants, BOLO (fields encrypted)")
    hs = h.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = hs.add_parser("import", help="replace a whole list from a CSV file or the state's fixed-width feed")
    p.add_argument("--list", required=True, help="list name, e.g. stolen, warrants, bolo")
    p.add_argument("file")
    p.add_argument("--format", choices=["csv", "state"], default="csv", help="csv (header row) or state (infra/hotlists/state-feed.md)")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                   help="CSV: take FIELD from COLUMN (repeatable); 'plate' is required, 'expires' ends an entry")
    p.add_argument("--strict", action="store_true", help="load nothing if any row is bad")
    p.add_argument("--encoding", help="the file's encoding, e.g. latin-1 (default: UTF-8, or UTF-16 with a byte-order mark)")
    p.add_argument("--report", metavar="FILE", help="write every skipped and altered row (line, kind, why) to FILE")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_import)

    p = hs.add_parser("add", help="add one entry; a plate may use ? and * as wildcards (BOLO)")
    p.add_argument("--list", required=True)
    p.add_argument("plate")
    p.add_argument("--field", action="append", default=[], metavar="NAME=VALUE", help="entry field (repeatable)")
    p.add_argument("--expires", metavar="WHEN", help="ISO date/time the entry ends (UTC if no zone)")
    p.add_argument("--state", help="the plate's issuing state (USPS code or name): hits then say whether the read state agrees")
    p.set_defaults(func=cmd_add)

    p = hs.add_parser("remove", help="remove a plate's entries")
    p.add_argument("--list", required=True)
    p.add_argument("plate")
    p.add_argument("--entry", help="only this entry id")
    p.set_defaults(func=cmd_remove)

    p = hs.add_parser("show", help="a plate's entries, decrypted")
    p.add_argument("--list", required=True)
    p.add_argument("plate")
    p.add_argument("--purpose", default="", help="why you need the entry's details (required)")
    p.add_argument("--case", default="", help="case or incident number")
    p.set_defaults(func=cmd_show)

    p = hs.add_parser("lists", help="list names, sizes, age and source")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lists)

    p = hs.add_parser("expire", help="set when one entry ends, or --sweep to remove ended entries")
    p.add_argument("--list")
    p.add_argument("--plate")
    p.add_argument("--entry")
    p.add_argument("--at", metavar="WHEN", help="ISO date/time (UTC if no zone)")
    p.add_argument("--sweep", action="store_true", help="remove every entry whose end has passed")
    p.set_defaults(func=cmd_expire)

    hs.add_parser("keygen", help="add a new AES-256 key to the key file").set_defaults(func=cmd_keygen)
    hs.add_parser("rotate-key", help="add a new key and re-encrypt every entry with it, without downtime").set_defaults(func=cmd_rotate)

    p = hs.add_parser("skip", help="plates never matched (known false reads, dealer placeholders)")
    p.add_argument("action", choices=["add", "remove", "list"])
    p.add_argument("plates", nargs="*")
    p.set_defaults(func=cmd_skip)

    for name in ("import", "add", "remove", "expire", "skip"):  # changes: they decide which plates raise hits
        p = hs.choices[name]
        p.add_argument("--purpose", default="", help="why you change the list (required)")
        p.add_argument("--case", default="", help="case or incident number")
