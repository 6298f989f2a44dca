"""``alpr share ...``: sharing with other agencies on a written request (policy 820.6).

    alpr share request add --agency ... --letter letter.pdf     records keeps the file
    alpr share request approve SR-...                            an approver of an approving rank
    alpr share request fulfil SR-... --out share.zip --purpose   an analyst or approver sends it
    alpr share report --from ... --to ... --html report.html     the publishable transparency report
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

from alpr.access.shares import ShareDesk
from alpr.app.access_cli import caller, open_access
from alpr.app.cli_util import Exit, say, when
from alpr.config import Config
from alpr.domain.sharing import AGENCY_TYPES, STATUSES, ShareRequest
from alpr.store import evidence, share_file


def desk(cfg: Config) -> ShareDesk:
    return ShareDesk(open_access(cfg), cfg.policy, cfg.clickhouse.database)


def _line(r: ShareRequest) -> str:
    return (f"{r.request_id:20} {r.received_at:%Y-%m-%d} {r.status:9} {r.agency_name[:28]:28} {r.agency_ori:9} "
            f"case {r.case_number:12} {r.refusal_reason[:60]}")


def cmd_request(cfg: Config, args: argparse.Namespace) -> int:
    d, me = desk(cfg), caller(cfg, args)
    if args.action == "add":
        try:
            letter = (Path(args.letter).name, Path(args.letter).read_bytes()) if args.letter else None
        except OSError as exc:
            say(f"error: the written request {args.letter}: {exc.strerror}")
            return Exit.USAGE
        req = ShareRequest(
            request_id="", received_at=datetime.now(timezone.utc), entered_by="", agency_name=args.agency,
            agency_ori=args.ori, agency_type=args.agency_type, agency_state=args.state, requester_name=args.requester,
            requester_title=args.title, requester_contact=args.contact, reason=args.reason,
            case_number=args.case_number, since=args.since, until=args.until, plates=tuple(args.plate or ()),
            cameras=tuple(args.camera or ()), area=args.area or "")
        req = d.add(me, req, letter)
        print(req.request_id)
        say(f"recorded {req.request_id}: pending an approver's decision")
    elif args.action in ("approve", "deny"):
        req = d.decide(me, args.request_id, args.action == "approve", args.note if args.action == "approve"
                       else args.reason)
        say(f"{req.request_id}: {req.status} by {req.decided_by}")
    elif args.action == "fulfil":
        req, pkg = d.fulfil(me, args.request_id)
        try:
            receipt = evidence.save(d.store.client, cfg.clickhouse.database, pkg, Path(args.out))  # once audited
        except BaseException:
            d.release(req)
            raise
        d.record_fulfilment(req, pkg)
        print(f"{req.request_id}: {receipt.reads} reads, {receipt.files} files written to {receipt.path} for "
              f"{req.agency_name} ({req.agency_ori})\nexport id {receipt.export_id}\n"
              f"package digest (SHA-256 of SHA256SUMS) {receipt.package_sha256}")
    elif args.action == "show":
        req, letter = d.show(me, args.request_id, with_letter=bool(args.letter_out))
        if letter:
            Path(args.letter_out).write_bytes(letter[1])
            say(f"wrote the written request ({letter[0]}) to {args.letter_out}")
        print(json.dumps(share_file.record(req), indent=2))
    else:
        found = d.find(me, args.status or "", args.since, args.until)
        if args.csv:
            Path(args.csv).write_text(share_file.to_csv(found))
            say(f"wrote {len(found)} requests to {args.csv}")
        if args.html:
            span = f"{args.since:%Y-%m-%d} to {args.until:%Y-%m-%d}" if args.since and args.until else "all dates"
            footer = (f"{len(found)} requests, {span}; written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
                      f"for the records of policy 820.6")
            Path(args.html).write_text(share_file.to_html(found, "ALPR sharing requests", footer))
            say(f"wrote {len(found)} requests to {args.html}")
        if args.json:
            print(json.dumps([share_file.record(r) for r in found]))
        elif not (args.csv or args.html):
            for r in found:
                print(_line(r))
            say(f"{len(found)} requests")
    return 0


def cmd_report(cfg: Config, args: argparse.Namespace) -> int:
    report = desk(cfg).transparency(caller(cfg, args), args.since, args.until)
    if args.html:
        Path(args.html).write_text(share_file.transparency_html(report))
        say(f"wrote the transparency report to {args.html}")
    if args.json:
        print(json.dumps(report, default=str))
    elif not args.html:
        print(f"{report['requests_received']} requests received {args.since:%Y-%m-%d} to {args.until:%Y-%m-%d}")
        for s in report["shares"]:
            print(f"{s['month']}  {s['agency'][:36]:36} {s['ori']:9} {s['shares']:>4} shares {s['reads']:>7} reads")
        for r in report["refusals"]:
            print(f"refused: {r['reason']:48} {r['requests']:>4}")
    return 0


def cmd_purge(cfg: Config, args: argparse.Namespace) -> int:
    ids = desk(cfg).purge(caller(cfg, args))
    say(f"purged {len(ids)} requests past {cfg.policy.share_request_retention_years} years" +
        (f": {', '.join(ids)}" if ids else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("share", help="share with another agency on a written request (policy 820.6)")
    ss = s.add_subparsers(dest="what", required=True, metavar="WHAT")
    r = ss.add_parser("request", help="the file of written requests: add, list, show, approve, deny, fulfil")
    rs = r.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = rs.add_parser("add", help="record a written request as received (records, approvers)")
    add.add_argument("--agency", required=True, help="requesting agency's name")
    add.add_argument("--ori", required=True, help="its ORI (NCIC Originating Agency Identifier, e.g. CA0190000)")
    add.add_argument("--agency-type", required=True, choices=list(AGENCY_TYPES))
    add.add_argument("--state", required=True, help="the agency's state (two letters)")
    add.add_argument("--requester", required=True, help="the requesting person's name")
    add.add_argument("--title", default="", help="their title or rank")
    add.add_argument("--contact", required=True, help="their telephone or e-mail")
    add.add_argument("--reason", default="", help="the reason the request gives")
    add.add_argument("--case-number", default="", help="the requesting agency's case number")
    add.add_argument("--plate", action="append", help="a plate asked for (repeatable)")
    add.add_argument("--from", dest="since", type=when, required=True, help="window start (ISO 8601, UTC if no zone)")
    add.add_argument("--to", dest="until", type=when, required=True, help="window end")
    add.add_argument("--camera", action="append", help="a camera asked for (repeatable)")
    add.add_argument("--area", metavar="LAT,LON,METRES", help="an area asked for")
    add.add_argument("--letter", metavar="FILE", help="the written request (letter, e-mail, form) as received")
    ls = rs.add_parser("list", help="the request file; --csv or --html to export it (records, approvers, auditors)")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--from", dest="since", type=when, help="received at or after")
    ls.add_argument("--to", dest="until", type=when, help="received before")
    ls.add_argument("--csv", metavar="FILE")
    ls.add_argument("--html", metavar="FILE")
    ls.add_argument("--json", action="store_true")
    sh = rs.add_parser("show", help="one request, all it records")
    sh.add_argument("request_id")
    sh.add_argument("--letter-out", metavar="FILE", help="also write the written request to FILE")
    ap = rs.add_parser("approve", help="approve a pending request (an approver of an approving rank)")
    ap.add_argument("request_id")
    ap.add_argument("--note", default="", help="a note on the approval")
    dn = rs.add_parser("deny", help="deny a pending request, with the reason")
    dn.add_argument("request_id")
    dn.add_argument("--reason", required=True)
    fu = rs.add_parser("fulfil", help="write the package of an approved request (analysts, approvers)")
    fu.add_argument("request_id")
    fu.add_argument("--out", required=True, metavar="FILE.zip")
    fu.add_argument("--purpose", default="", help="why you send it (required)")
    r.set_defaults(func=cmd_request)

    rep = ss.add_parser("report", help="the transparency report: shares per agency and month, refusals by reason")
    rep.add_argument("--from", dest="since", type=when, required=True)
    rep.add_argument("--to", dest="until", type=when, required=True)
    rep.add_argument("--html", metavar="FILE")
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=cmd_report)

    pg = ss.add_parser("purge", help="remove requests past policy.share_request_retention_years (records)")
    pg.set_defaults(func=cmd_purge)
