"""The compliance report, composed: the live command tree, route table and classification handed to
the checks of ``alpr.compliance``, the run behind the gate and stored. ``alpr compliance report`` and
``GET /v1/compliance`` both run it."""

from __future__ import annotations

from datetime import datetime, timezone

from alpr.access.gate import Access, Caller
from alpr.app import classified
from alpr.compliance import clauses as clause_map
from alpr.compliance import report, runs
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
