"""Every ``alpr`` command and every API route, classified: the audited action it goes through the gate
with, or why it needs none. Product code, not a test fixture, because the compliance report checks
the live command tree and route table against it (policy 820.1, 820.7; Civil Code 1798.90.52): a
new command or route is reported unclassified until it is added here.

Commands are named as typed (``"hotlist show"``); a group name (``"share"``) covers every
subcommand under it. Routes are FastAPI path templates; the audited ones are ``ROUTE_ACTIONS`` in
``alpr.app.api`` (which also audits a request refused before its handler runs), the rest are here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

# command -> the audited actions it may record (each in alpr.domain.roles.ACTIONS)
AUDITED_COMMANDS: dict[str, tuple[str, ...]] = {
    "search": ("search_reads", "view_image"),  # --html adds the images, audited apart
    "evidence hold": ("hold_evidence",),
    "evidence release": ("release_evidence",),
    "evidence export": ("export_evidence",),
    "evidence verify": ("verify_evidence",),  # --recorded reads the digest; a file alone is checked offline
    "retention": ("retention_enforce", "retention_report"),
    "sql": ("run_sql",),
    "audit verify": ("audit_verify",),
    "audit search": ("audit_search",),
    "audit report": ("audit_report",),
    "audit checkpoint": ("audit_checkpoint",),
    "audit rotate-key": ("audit_rotate_key",),
    "hotlist show": ("view_hotlist_entry",),
    "hotlist add": ("add_hotlist_entry",),
    "hotlist import": ("edit_hotlist",),
    "hotlist remove": ("edit_hotlist",),
    "hotlist expire": ("edit_hotlist",),
    "hotlist skip": ("edit_skip_list",),  # `skip list` shows the skipped plates, which are no hot-list data
    "hotlist keygen": ("manage_hotlist_keys",),
    "hotlist rotate-key": ("manage_hotlist_keys",),
    "feedback export": ("export_feedback",),
    "passwd": ("change_own_password",),
    "users add": ("manage_users",),
    "users list": ("view_users",),
    "users show": ("view_users",),
    "users disable": ("manage_users",),
    "users enable": ("manage_users",),
    "users unlock": ("manage_users",),
    "users set-role": ("manage_users",),
    "users set-unit": ("manage_users",),
    "users record-training": ("manage_users",),
    "users record-policy-review": ("manage_users",),
    "users record-certification": ("manage_users",),
    "users record-contractor-vetting": ("manage_users",),
    "share": ("add_share_request", "view_share_requests", "decide_share_request", "fulfil_share_request",
              "share_transparency_report", "purge_share_requests"),  # written requests, policy 820.6
    "compliance": ("compliance_report",),
}

# command -> why it records no action of the role table
UNAUDITED_COMMANDS: dict[str, str] = {
    "config": "operations: prints the configuration, secrets masked; no LPR data",
    "stack": "operations: starts and stops local services; no LPR data",
    "db": "operations: applies schema migrations; no LPR data",
    "simulate": "operations: publishes synthetic frames; no real LPR data",
    "ingest": "operations: publishes camera frames into the flow; reads no stored data",
    "run": "operations: the read flow, which writes reads and hits; people reach them only through the gate",
    "eval": "operations: scores readers on a labelled folder; no stored data",
    "train": "operations: trains models on labelled folders; no stored data",
    "demo": "operations: a throwaway demo stack and its own data",
    "login": "account event: the gate records every logon, allowed or refused (Access.logon)",
    "logout": "account event: the gate records it (Access.logout)",
    "users bootstrap-admin": "local recovery: the gate records it as bootstrap_admin (Access.bootstrap_admin)",
    "users break-glass": "local recovery for root: the gate records it as break_glass (Access.break_glass)",
    "users roles": "prints the role table, which is public (GET /v1/roles)",
    "hotlist lists": "list names, sizes and age: no entry, plate or sealed field",
    "serve": "the API: each of its routes is classified by route",
}

# the gate's own records, written before a session exists or as it ends: not in the role table
GATE_EVENTS: dict[str, str] = {
    "logon": "Access.logon records every attempt, allowed or refused",
    "logout": "Access.logout records it",
}

# audited routes that ROUTE_ACTIONS does not name yet: the gate records them itself
GATE_ROUTES: dict[str, str] = {
    "/v1/logout": "logout",
}

# route -> why it needs no audit record
PUBLIC_ROUTES: dict[str, str] = {
    "/v1/healthz": "liveness for the load balancer: says ok, nothing else",
    "/v1/roles": "the least-privilege table, public by design (docs/access-and-audit.md)",
    "/openapi.json": "the API's own description",
    "/docs": "the API's own description, as a page",
    "/docs/oauth2-redirect": "part of the /docs page",
    "/redoc": "the API's own description, as a page",
    "/metrics": "Prometheus counters and gauges: no plates, users or purposes as label values",
    "/console": "the dispatch console's page: static, every hit it shows comes through audited routes",
    "/console/{asset}": "the console's script and style sheet: static",
}


def command_paths(parser: argparse.ArgumentParser) -> list[str]:
    """Every leaf command of a parser as typed (``"hotlist show"``), in the parser's order."""
    def walk(p: argparse.ArgumentParser, prefix: tuple[str, ...]) -> Iterable[str]:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield " ".join(prefix)
            return
        for name, child in subs[0].choices.items():
            yield from walk(child, (*prefix, name))
    return [c for c in walk(parser, ()) if c]


def route_paths(routes: Iterable[object]) -> list[str]:
    """The path template of every route and mount of an app (``app.routes``), once each, sorted."""
    return sorted({getattr(r, "path", "") for r in routes} - {""})
