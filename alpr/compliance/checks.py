"""The live checks: what the deployment holds now, against the rules of policy 820 and Civil Code
1798.90.51-.55. Each check gives pass, fail or not_checked with a one-line detail, and names the
clauses it proves (``CHECKS``, which the map must agree with).

A check that cannot run (a service down, a key missing) fails with the reason: the report cannot
show compliance it did not see. No check returns LPR data: counts, dates, ids and usernames only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson
import redis
from clickhouse_connect.driver.client import Client

from alpr.compliance import rules
from alpr.compliance.rules import FAIL, PASS, Surface
from alpr.config import PolicyConfig
from alpr.domain.roles import ACTIONS
from alpr.hotlists.store import LISTS_KEY, list_key, patterns_key
from alpr.store import retention
from alpr.store.audit import AuditLog
from alpr.store.db import utc
from alpr.store.shares import out_of_rule
from alpr.store.users import UserStore

log = logging.getLogger(__name__)

# name -> (what it checks, the clauses it proves)
CHECKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "retention": ("Oldest unheld read within the retention limit", ("820.5", "1798.90.51")),
    "audit_chain": ("The access log's hash chain verifies", ("820.7", "1798.90.52", "1798.90.54")),
    "classified": ("Every command and API route is classified, and audited under a known action",
                   ("820.1", "820.2", "820.7", "1798.90.51", "1798.90.52", "1798.90.53")),
    "users_current": ("Enabled users trained, CLETS-certified and policy-reviewed; contractors vetted",
                      ("820.2", "820.3", "1798.90.53")),
    "sharing": ("No share sent without approval or to an agency the rules refuse", ("820.6", "1798.90.55")),
    "hotlist_sealed": ("Hot-list records hold no plaintext field but the plate", ("820.4", "820.9", "1798.90.51")),
    "hits_disposed": ("Every hit has a workflow step within the due time", ("820.8",)),
    "holds_have_cases": ("Every evidence hold names a case", ("820.5", "1798.90.54")),
}


@dataclass(frozen=True)
class Check:
    name: str
    result: str  # pass | fail | not_checked
    detail: str
    clauses: tuple[str, ...]


@dataclass
class Deployment:
    """What the checks read: the database, Redis, the policy, the access log and the surface."""

    client: Client
    db: str
    redis: redis.Redis
    policy: PolicyConfig
    audit: AuditLog
    surface: Surface
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def _n(count: int, noun: str) -> str:
    """``1 hit``, ``2 hits``: details are read by people."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _listed(items: list[str], limit: int = 5) -> str:
    return "; ".join(items[:limit]) + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def retention_check(d: Deployment) -> tuple[str, str]:
    rep = retention.report(d.client, d.db, d.policy.retention_years, now=d.now)
    oldest = rep["oldest_unheld_read"]
    if oldest is None:
        return PASS, f"no unheld reads; limit {d.policy.retention_years} years"
    where = f"oldest unheld read {oldest:%Y-%m-%d %H:%M} UTC, cutoff {rep['cutoff']:%Y-%m-%d %H:%M} UTC"
    if rep["within_limit"]:
        return PASS, f"{where} ({d.policy.retention_years} years)"
    return FAIL, f"{where}: past the limit, run `alpr retention enforce`"


def audit_chain_check(d: Deployment) -> tuple[str, str]:
    c = d.audit.check()
    if c.problems:
        return FAIL, f"{_n(len(c.problems), 'problem')} in {_n(c.records, 'record')}: {_listed(c.problems, 2)}"
    return PASS, f"{_n(c.records, 'record')} and {_n(c.checkpoints, 'stored checkpoint')} verify"


def classified_check(d: Deployment) -> tuple[str, str]:
    found = rules.surface_problems(d.surface, ACTIONS)
    s = d.surface
    if found:
        return FAIL, f"{_n(len(found), 'problem')}: {_listed(found)}"
    return PASS, f"{_n(len(s.commands), 'command')} and {_n(len(s.routes), 'route')} classified; every audited action is in the role table"


def users_check(d: Deployment) -> tuple[str, str]:
    everyone = UserStore(d.client, d.db).all()
    out = rules.lapsed(everyone, d.now.date(), d.policy)
    if out:
        return FAIL, f"{_n(len(out), 'enabled user')} the policy keeps out: " + _listed([f"{u} ({why})" for u, why in out])
    enabled = sum(not (u.disabled or u.locked) for u in everyone)
    return PASS, f"{_n(enabled, 'enabled user')}, each trained, certified and policy-reviewed"


def sharing_check(d: Deployment) -> tuple[str, str]:
    found = out_of_rule(d.client, d.db, d.policy)
    if found:
        items = [f"request {r['request_id']} to {r['agency']} ({r['why']})" for r in found]
        return FAIL, f"{_n(len(found), 'share')} outside the rules: {_listed(items)}"
    return PASS, "every share sent was approved and went to an agency the rules allow"


def _sample(r: redis.Redis, key: str, count: int) -> list[tuple[str, bytes]]:
    if count <= 0:
        return []
    flat = r.hrandfield(key, count, withvalues=True) or []
    return [(k.decode() if isinstance(k, bytes) else k, v) for k, v in zip(flat[::2], flat[1::2])]


def hotlist_check(d: Deployment) -> tuple[str, str]:
    n = d.policy.compliance_hotlist_sample
    names = sorted(x.decode() for x in d.redis.smembers(LISTS_KEY))
    seen, bad = 0, []
    for name in names:
        fields = _sample(d.redis, list_key(name), n)
        fields += _sample(d.redis, patterns_key(name), n - len(fields))
        for plate_key, value in fields:
            try:
                records = orjson.loads(value)
            except orjson.JSONDecodeError:
                bad.append(f"{name}/{plate_key}: not a JSON array of records")
                continue
            for rec in records if isinstance(records, list) else [records]:
                seen += 1
                bad += [f"{name}/{plate_key}: {why}" for why in rules.record_problems(rec)]
    if bad:
        return FAIL, f"{_n(len(bad), 'problem')} in {_n(seen, 'sampled record')}: {_listed(bad, 3)}"
    return PASS, f"{_n(seen, 'record')} sampled from {_n(len(names), 'list')} (up to {n} each): every non-plate field sealed"


def hits_check(d: Deployment) -> tuple[str, str]:
    due = d.now - timedelta(hours=d.policy.hit_disposition_due_h)
    count, oldest, ids = d.client.query(
        f"SELECT count(), min(published_at), groupArray(3)(hit_id) FROM "
        f"(SELECT hit_id, published_at FROM {d.db}.hits FINAL WHERE published_at < %(due)s AND suppressed = 0 "
        f"AND hit_id NOT IN (SELECT hit_id FROM {d.db}.hit_dispositions) ORDER BY published_at)",
        parameters={"due": due}).result_rows[0]
    if count:
        return FAIL, (f"{_n(count, 'hit')} published over {d.policy.hit_disposition_due_h:g} h ago without a workflow step; "
                      f"oldest {utc(oldest):%Y-%m-%d %H:%M} UTC (hit {', '.join(ids)})")
    return PASS, f"every hit older than {d.policy.hit_disposition_due_h:g} h has a workflow step"


def holds_check(d: Deployment) -> tuple[str, str]:
    active = f"SELECT * FROM {d.db}.evidence_holds FINAL WHERE released_at IS NULL"
    no_case = d.client.command(f"SELECT count() FROM ({active}) WHERE trim(case_id) = ''")
    covered = f"SELECT read_id FROM ({active}) WHERE trim(case_id) != ''"
    flagged = {t: d.client.command(f"SELECT uniqExact(read_id) FROM {d.db}.{t} FINAL WHERE hold = 1 "
                                   f"AND read_id NOT IN ({covered})") for t in retention.EXPIRING}
    found = ([f"{_n(no_case, 'active hold')} without a case"] if no_case else []) + [
        f"{_n(n, 'row')} of {t} flagged held with no case's hold" for t, n in flagged.items() if n]
    if found:
        return FAIL, "; ".join(found)
    held = d.client.command(f"SELECT uniqExact(read_id) FROM ({active})")
    return PASS, f"{_n(held, 'held read')}, each under a case"


RUNNERS: dict[str, Callable[[Deployment], tuple[str, str]]] = {
    "retention": retention_check, "audit_chain": audit_chain_check, "classified": classified_check,
    "users_current": users_check, "sharing": sharing_check, "hotlist_sealed": hotlist_check,
    "hits_disposed": hits_check, "holds_have_cases": holds_check,
}


def run_all(d: Deployment) -> list[Check]:
    """Every check, in ``CHECKS`` order; one that raises fails with the reason."""
    out = []
    for name, (_, clauses) in CHECKS.items():
        try:
            result, detail = RUNNERS[name](d)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is a failed check, said in one line
            log.warning("compliance check %s could not run", name, exc_info=exc)
            reason = (str(exc).strip().splitlines() or [""])[0][:200]
            result, detail = FAIL, f"could not run: {type(exc).__name__}: {reason}"
        out.append(Check(name, result, detail, clauses))
    return out
