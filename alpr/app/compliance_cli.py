"""``alpr compliance report``: pass or fail per clause of policy 820 and Civil Code 1798.90.51-.55,
from live checks of this deployment and the map of clauses to code and tests. The composition root
for ``alpr.compliance``: it hands the checks the real command tree, route table and classification.

Run nightly by a service account (role it_staff) from a timer; each run is stored in
``compliance_runs`` and the API's gauges and alerts read the latest one (docs/compliance.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from alpr.app.access_cli import caller, open_access
from alpr.app.cli_util import Exit, say
from alpr.app.compliance import app_routes, evaluate
from alpr.compliance import page, report
from alpr.config import Config


def cmd_compliance(cfg: Config, args: argparse.Namespace) -> int:
    access = open_access(cfg)
    rep = evaluate(cfg, access, caller(cfg, args), app_routes(cfg, access))
    if args.html:
        Path(args.html).write_text(page.render(rep))
        say(f"wrote {args.html}")
    print(json.dumps(rep, indent=2) if args.json else report.text(rep), end="\n" if args.json else "")
    return Exit.OK if rep["passed"] else Exit.FAILED


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compliance", help="policy 820 and Civil Code 1798.90.51-.55: live checks per clause "
                       "(auditors, admins, IT)")
    csub = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = csub.add_parser("report", help="pass or fail per clause, with enforcing code and tests; exit 1 when a "
                        "check fails; stored for the nightly alert")
    r.add_argument("--html", metavar="FILE", help="also write the report as a self-contained HTML page")
    r.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    r.set_defaults(func=cmd_compliance)
