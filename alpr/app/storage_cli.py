"""``alpr search``, ``alpr retention ...`` and ``alpr evidence ...``: the stored reads, for investigators."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from alpr.app.access_cli import caller, open_access
from alpr.app.cli_util import say, when
from alpr.config import Config
from alpr.store import evidence, read_export, retention, search


def cmd_search(cfg: Config, args: argparse.Namespace) -> int:
    access = open_access(cfg)
    me = caller(cfg, args)
    d = cfg.clickhouse.database
    q = search.SearchQuery(
        plate=args.plate or "", fuzzy=args.fuzzy, since=args.since, until=args.until,
        cameras=tuple(args.camera or ()), near=search.Near.parse(args.near) if args.near else None,
        state=args.state or "", page=args.page, page_size=args.page_size)
    with access.use(me, "search_reads", terms=q.terms(), plates=[q.plate]) as grant:
        page = search.search(access.client, d, q)
        grant.rows = len(page.reads)
    if args.csv:
        Path(args.csv).write_text(read_export.to_csv(page.reads))
        say(f"wrote {len(page.reads)} reads to {args.csv}")
    if args.html:
        ids = [r.read_id for r in page.reads]
        with access.use(me, "view_image", terms={"read_ids": ids}, plates=[r.plate for r in page.reads]) as grant:
            pics = search.images(access.client, d, ids)
            grant.rows = len(pics)
        title = f"Reads for {q.plate or 'all plates'}" + (" (misread-tolerant)" if q.fuzzy else "")
        footer = f"Searched by {grant.user.username} ({grant.user.organisation}) for: {me.purpose}"
        Path(args.html).write_text(read_export.to_html(page.reads, pics, title, footer=footer))
        say(f"wrote {len(page.reads)} reads with images to {args.html}")
    if args.json:
        print(json.dumps({"page": page.page, "more": page.more, "reads": [read_export.record(r) for r in page.reads]}))
    elif not (args.csv or args.html):
        for r in page.reads:
            print(f"{r.captured_at:%Y-%m-%d %H:%M:%S} UTC  {r.camera_id:14} {r.latitude:10.5f} {r.longitude:11.5f}  "
                  f"{r.plate:9} {r.confidence:.2f} {r.state or '--':2}{'  held' if r.hold else ''}  {r.read_id}")
        more = f"; more on page {page.page + 1}" if page.more else ""
        say(f"{len(page.reads)} reads on page {page.page}{more}")
    return 0


def cmd_retention(cfg: Config, args: argparse.Namespace) -> int:
    access = open_access(cfg)
    client, d = access.client, cfg.clickhouse.database
    years = cfg.policy.retention_years
    if args.action == "enforce":
        with access.use(caller(cfg, args), "retention_enforce", terms={"retention_years": years}) as grant:
            run = retention.enforce(client, d, years)
            grant.rows = run.reads_removed
        print(f"cutoff {run.cutoff:%Y-%m-%d %H:%M:%S} UTC ({years} years): removed {run.reads_removed} reads, "
              f"{run.images_removed} image rows, {run.hits_removed} hits, {run.plates_removed} plates; "
              f"{run.held_reads} reads held as evidence")
        return 0
    with access.use(caller(cfg, args), "retention_report") as grant:
        rep = retention.report(client, d, years)
        grant.rows = len(rep["months"])
    if args.json:
        print(json.dumps(rep, default=str))
        return 0
    oldest = rep["oldest_unheld_read"]
    print(f"retention {years} years; cutoff {rep['cutoff']:%Y-%m-%d %H:%M} UTC; oldest unheld read "
          f"{oldest:%Y-%m-%d %H:%M} UTC" if oldest else f"retention {years} years; no unheld reads")
    print("within the limit" if rep["within_limit"] else "PAST THE LIMIT: run `alpr retention enforce`")
    print(f"{'month':8} {'reads':>12} {'read MB':>10} {'image MB':>10}")
    for m in rep["months"]:
        print(f"{m['month']:8} {m['reads']:>12,} {m['read_bytes'] / 1e6:>10.1f} {m['image_bytes'] / 1e6:>10.1f}")
    for h in rep["held_by_case"]:
        print(f"case {h['case_id']}: {h['reads']} reads held since {h['held_since']:%Y-%m-%d}")
    last = rep["last_enforcement"]
    print(f"last enforcement {last['run_at']:%Y-%m-%d %H:%M} UTC removed {last['reads_removed']} reads"
          if last else "enforcement has never run")
    return 0


def cmd_evidence(cfg: Config, args: argparse.Namespace) -> int:
    if args.action == "verify":
        expected = args.digest
        if args.recorded:
            access = open_access(cfg)
            with access.use(caller(cfg, args), "verify_evidence", terms={"file": args.file}) as grant:
                expected = evidence.recorded_digest(access.client, cfg.clickhouse.database, Path(args.file))
                grant.rows = int(expected is not None)
            if expected is None:
                say("error: no export of this package is recorded in this database")
                return 1
        v = evidence.verify(Path(args.file), expected)
        for label, names in (("changed", v.changed), ("missing", v.missing), ("added", v.added)):
            for n in names:
                print(f"{label}: {n}")
        for p in v.problems:
            print(f"problem: {p}")
        print(f"package digest {v.package_sha256}: " + ("OK, every file intact" if v.ok else "FAILED"))
        return 0 if v.ok else 1
    access = open_access(cfg)
    me = caller(cfg, args)
    client, d = access.client, cfg.clickhouse.database
    if args.action == "hold":
        terms = {"case": args.case, "reads": args.read or [], "plate": args.plate or "", "from": str(args.since or ""),
                 "to": str(args.until or ""), "reason": args.reason}
        with access.use(me, "hold_evidence", terms=terms, plates=[args.plate or ""]) as grant:
            held = evidence.hold(client, d, args.case, grant.user.username, args.reason, read_ids=args.read or [],
                                 plate=args.plate or "", since=args.since, until=args.until)
            grant.rows = len(held)
        print(f"case {args.case}: {len(held)} reads held")
    elif args.action == "release":
        with access.use(me, "release_evidence", terms={"case": args.case}) as grant:
            released = evidence.release(client, d, args.case, grant.user.username)
            grant.rows = len(released)
        print(f"case {args.case}: {len(released)} reads released; they expire with the next enforcement "
              "if past the retention limit")
    else:
        with access.use(me, "export_evidence", terms={"case": args.case, "out": args.out, "reason": args.reason}) as g:
            pkg = evidence.package(client, d, args.case, g.user.username, args.reason)
            g.rows = pkg.reads
        r = evidence.save(client, d, pkg, Path(args.out))  # only once the export is on the access log
        print(f"case {r.case_id}: {r.reads} reads, {r.files} files written to {r.path}\n"
              f"export id {r.export_id}\npackage digest (SHA-256 of SHA256SUMS) {r.package_sha256}")
    return 0


def _why(p: argparse.ArgumentParser, case: bool = True) -> None:
    """Every access states its purpose (refused and audited without one) and, where given, a case number."""
    p.add_argument("--purpose", default="", help="why you need this (required)")
    if case:
        p.add_argument("--case", default="", help="case or incident number")


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("search", help="search stored reads: exact, partial (? *), misread-tolerant, time, place")
    s.add_argument("plate", nargs="?", help="plate, or a pattern: ? one character, * any run (e.g. 7AB*)")
    s.add_argument("--fuzzy", action="store_true", help="also confusable characters (O/0, B/8...) and one edit")
    s.add_argument("--from", dest="since", type=when, help="captured at or after (ISO 8601, UTC if no zone)")
    s.add_argument("--to", dest="until", type=when, help="captured before")
    s.add_argument("--camera", action="append", help="only this camera (repeatable)")
    s.add_argument("--near", metavar="LAT,LON,METRES", help="within this distance of a point")
    s.add_argument("--state", help="only plates read as issued by this state (USPS code such as CA, or its name)")
    s.add_argument("--page", type=int, default=1)
    s.add_argument("--page-size", type=int, default=50)
    s.add_argument("--csv", metavar="FILE", help="write the page as CSV")
    s.add_argument("--html", metavar="FILE", help="write the page as an HTML page with the images")
    s.add_argument("--json", action="store_true", help="print the page as JSON")
    _why(s)
    s.set_defaults(func=cmd_search)

    r = sub.add_parser("retention", help="enforce the retention limit, or report where it stands")
    r.add_argument("action", choices=["enforce", "report"],
                   help="enforce: delete unheld reads past the limit now (daily timer); report: the state")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_retention)

    e = sub.add_parser("evidence", help="hold reads for a case, release them, export and verify packages")
    esub = e.add_subparsers(dest="action", required=True, metavar="ACTION")
    h = esub.add_parser("hold", help="keep reads past retention for a case")
    h.add_argument("--case", required=True)
    h.add_argument("--read", action="append", metavar="ID", help="read id (repeatable)")
    h.add_argument("--plate", help="every read of this plate in --from .. --to")
    h.add_argument("--from", dest="since", type=when)
    h.add_argument("--to", dest="until", type=when)
    h.add_argument("--reason", required=True)
    _why(h, case=False)
    rel = esub.add_parser("release", help="release a case's holds")
    rel.add_argument("--case", required=True)
    _why(rel, case=False)
    x = esub.add_parser("export", help="write a case's held reads as a verifiable zip package")
    x.add_argument("--case", required=True)
    x.add_argument("--out", required=True, metavar="FILE.zip")
    x.add_argument("--reason", required=True, help="why it is exported (court, prosecutor, ...)")
    _why(x, case=False)
    v = esub.add_parser("verify", help="check a package: changed, missing or added files")
    v.add_argument("file")
    v.add_argument("--digest", help="the package digest on the custody receipt")
    v.add_argument("--recorded", action="store_true", help="compare with the digest recorded in the database")
    e.set_defaults(func=cmd_evidence)
