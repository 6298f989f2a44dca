"""``alpr hotlist ...``: import, edit, inspect and re-key hot lists."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import redis

from alpr.cli_util import say, when
from alpr.config import Config
from alpr.crypto import Keyring, generate_key_file
from alpr.hotlist import HotlistStore, NewEntry
from alpr.hotlist_import import check_plate, parse_csv, parse_state_feed

MAX_ERRORS_SHOWN = 20


def _store(cfg: Config, need_key: bool) -> HotlistStore:
    keyring = Keyring.load(cfg.hotlist_key_path) if need_key else None
    return HotlistStore(redis.Redis.from_url(cfg.redis.url), keyring)



def cmd_import(cfg: Config, args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    path = Path(args.file)
    if not path.is_file():
        say(f"error: {path} is not a file")
        return 2
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        if args.format == "csv":
            mapping = dict(m.split("=", 1) for m in args.map) if args.map else None
            parsed = parse_csv(fh, mapping)
        else:
            parsed = parse_state_feed(fh)
    for line, why in parsed.errors[:MAX_ERRORS_SHOWN]:
        say(f"{path.name}:{line}: skipped: {why}")
    if len(parsed.errors) > MAX_ERRORS_SHOWN:
        say(f"... and {len(parsed.errors) - MAX_ERRORS_SHOWN} more rows skipped")
    if not parsed.entries:
        say(f"error: no valid entries in {path}; list {args.list!r} left unchanged")
        return 1
    if parsed.errors and args.strict:
        say(f"error: {len(parsed.errors)} bad rows and --strict; list {args.list!r} left unchanged")
        return 1
    n = _store(cfg, True).replace(args.list, parsed.entries, source=path.name)
    summary = {"list": args.list, "rows": parsed.rows, "loaded": n, "skipped": len(parsed.errors),
               "seconds": round(time.monotonic() - t0, 2)}
    print(json.dumps(summary) if args.json else
          f"{args.list}: loaded {n} entries from {parsed.rows} rows, skipped {len(parsed.errors)}, "
          f"in {summary['seconds']} s (the list was replaced as a whole)")
    return 0


def cmd_add(cfg: Config, args: argparse.Namespace) -> int:
    fields = dict(kv.split("=", 1) for kv in args.field)
    entry = NewEntry(check_plate(args.plate), fields, when(args.expires) if args.expires else None)
    entry_id = _store(cfg, True).add(args.list, entry)
    print(f"added {entry.plate} to {args.list} as entry {entry_id}")
    return 0


def cmd_remove(cfg: Config, args: argparse.Namespace) -> int:
    n = _store(cfg, False).remove(args.list, args.plate, args.entry)
    print(f"removed {n} entr{'y' if n == 1 else 'ies'} for {args.plate} from {args.list}")
    return 0 if n else 1


def cmd_show(cfg: Config, args: argparse.Namespace) -> int:
    """Decrypted entry details are sensitive: a session, a purpose and an audit record, like LPR data."""
    from alpr.access_cli import caller, open_access

    access = open_access(cfg)
    with access.use(caller(cfg, args), "view_hotlist_entry", terms={"list": args.list, "plate": args.plate},
                    plates=[args.plate]) as grant:
        rows = [{"list": e.list_name, "entry_id": e.entry_id, "plate": e.plate, "key_id": e.sealed["kid"], **fields}
                for e, fields in _store(cfg, True).show(args.list, args.plate)]
        grant.rows = len(rows)
    if not rows:
        print(f"{args.plate} is not on {args.list}")
        return 1
    print(json.dumps(rows, indent=2))
    return 0


def cmd_lists(cfg: Config, args: argparse.Namespace) -> int:
    lists = _store(cfg, False).lists()
    if args.json:
        print(json.dumps(lists))
        return 0
    now = datetime.now(timezone.utc)
    for name, meta in lists.items():
        age = (now - datetime.fromisoformat(meta["refreshed_at"])).total_seconds() / 3600 if "refreshed_at" in meta else None
        print(f"{name:16} {meta.get('entries', '?'):>9} entries  "
              + (f"refreshed {age:.1f} h ago" if age is not None else "never refreshed")
              + (f"  from {meta['source']}" if meta.get("source") else ""))
    return 0


def cmd_expire(cfg: Config, args: argparse.Namespace) -> int:
    store = _store(cfg, False)
    if args.sweep:
        print(f"removed {store.sweep_expired()} expired entries")
        return 0
    if not (args.list and args.plate and args.entry and args.at):
        say("error: give --list, --plate, --entry and --at, or --sweep")
        return 2
    ok = store.set_expiry(args.list, args.plate, args.entry, when(args.at))
    print(f"entry {args.entry} ends at {args.at}" if ok else f"no entry {args.entry} for {args.plate} on {args.list}")
    return 0 if ok else 1


def cmd_keygen(cfg: Config, args: argparse.Namespace) -> int:
    kid = generate_key_file(cfg.hotlist_key_path)
    print(f"added key {kid} to {cfg.hotlist_key_path}; new entries are sealed with it")
    return 0


def cmd_rotate(cfg: Config, args: argparse.Namespace) -> int:
    kid = generate_key_file(cfg.hotlist_key_path)
    n = _store(cfg, True).rotate()
    print(f"re-encrypted {n} entries with new key {kid}; older keys in {cfg.hotlist_key_path} are no longer "
          "needed by Redis and can be retired once backups made with them have expired")
    return 0


def cmd_skip(cfg: Config, args: argparse.Namespace) -> int:
    store = _store(cfg, False)
    if args.action == "add":
        store.skip(args.plates)
    elif args.action == "remove":
        store.unskip(args.plates)
    print("\n".join(store.skipped()))
    return 0


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
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_import)

    p = hs.add_parser("add", help="add one entry; a plate may use ? and * as wildcards (BOLO)")
    p.add_argument("--list", required=True)
    p.add_argument("plate")
    p.add_argument("--field", action="append", default=[], metavar="NAME=VALUE", help="entry field (repeatable)")
    p.add_argument("--expires", metavar="WHEN", help="ISO date/time the entry ends (UTC if no zone)")
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
