"""``alpr compliance report``: pass or fail per clause of policy 820 and Civil Code 1798.90.51-.55,
from live checks of this deployment and the map of clauses to code and tests. The composition root
for ``alpr.compliance``: it hands the checks the real command tree, route table and classification.

Run nightly by a service account (role it_staff) from a timer; each run is stored in
``compliance_runs`` and the API's gauges and alerts read the latest one (docs/compliance.md).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

from alpr.access.gate import Access, Caller
from alpr.app import classified
from alpr.app.access_cli import caller, open_access
from alpr.app.cli_util import Exit, say
from alpr.compliance import clauses as clause_map
from alpr.compliance import page, report, runs
from alpr.compliance.checks import CHECKS, Deployment, run_all
from alpr.compliance.rules import Surface
from alpr.config import Config


def surface(routes: list[str]) -> Surface:
    """The commands of the real parser and the given routes, with their classification."""
    from alpr.app.api import ROUTE_ACTIONS  # here, not at the top: api.py adds this module's routes
    from alpr.app.cli import build_parser  # here, not at the top: cli.py registers this module

    return Surface(commands=classified.command_paths(build_parser()), routes=routes,
                   audited_commands=classified.AUDITED_COMMANDS, unaudited_commands=classified.UNAUDITED_COMMANDS,
                   route_actions={**classified.GATE_ROUTES, **ROUTE_ACTIONS}, public_routes=classified.PUBLIC_ROUTES,
                   gate_events=tuple(classified.GATE_EVENTS))


def app_routes(cfg: Config, access: Access) -> list[str]:
    """The route table of the API that `alpr serve` would run on this configuration."""
    from alpr.app.api import create_app

    return classified.route_paths(create_app(cfg, access).routes)


def _map() -> tuple[list[clause_map.Clause], list[str]]:
    try:
        found = clause_map.load()
    except (OSError, clause_map.MapError) as exc:
        return [], [f"the compliance map cannot be read: {exc}"]
    return found, clause_map.problems(found, {name: proves for name, (_, proves) in CHECKS.items()})


def evaluate(cfg: Config, access: Access, who: Caller, routes: list[str]) -> dict:
    """Run every check behind the gate (audited as compliance_report), store the run, return the report."""
    now = datetime.now(timezone.utc)
    with access.use(who, "compliance_report", terms={"checks": list(CHECKS)}) as grant:
        d = Deployment(access.client, cfg.clickhouse.database, access.redis, cfg.policy, access.audit,
                       surface(routes), now=now)
        checks = run_all(d)
        found, problems = _map()
        grant.rows = len(checks)
    run = runs.save(access.client, cfg.clickhouse.database, now, grant.user.username, checks)
    return report.build(found, checks, problems, run_id=run.run_id, run_at=now, run_by=run.run_by)


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
