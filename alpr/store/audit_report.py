"""The auditors' periodic report: who accessed what and why, what was refused, and what looks wrong.

Red flags: LPR searches without a case number, access outside business hours, a user naming more
plates in one day than the policy threshold, and users whose certification or policy review lapses
soon. Written as CSV files and one HTML page with bar charts (inline SVG, no external assets).
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from datetime import date, datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from alpr.config import PolicyConfig
from alpr.domain import roles
from alpr.store import users
from alpr.store.audit import AuditLog
from alpr.store.users import UserStore

LPR_ACTIONS = tuple(name for name, a in roles.ACTIONS.items() if a.lpr_data)
ACCOUNT_EVENTS = ("logon", "logout", "session")


def _hours(spec: str) -> tuple[time, time]:
    start, _, end = spec.partition("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def build(audit: AuditLog, people: UserStore, policy: PolicyConfig, since: datetime, until: datetime) -> dict:
    rows = audit.search(since=since, until=until, limit=10_000_000)
    zone = ZoneInfo(policy.timezone)
    open_at, close_at = _hours(policy.business_hours)
    per_user_purpose = Counter((r["username"], r["purpose"]) for r in rows
                               if r["action"] not in ACCOUNT_EVENTS and r["outcome"] == "allowed")
    denied = [r for r in rows if r["outcome"] == "denied"]
    no_case = [r for r in rows if r["action"] in LPR_ACTIONS and r["outcome"] == "allowed" and not r["case_id"]]
    after_hours = [r for r in rows if r["action"] not in ACCOUNT_EVENTS[1:] and r["outcome"] == "allowed"
                   and not open_at <= r["at"].astimezone(zone).time() < close_at]
    lookups = Counter()
    for r in rows:
        if r["action"] in LPR_ACTIONS and r["outcome"] == "allowed":
            lookups[(r["username"], r["at"].astimezone(zone).date())] += len(r["plates"])
    heavy = [{"username": u, "day": str(d), "plates": n} for (u, d), n in sorted(lookups.items())
             if n > policy.plate_lookup_alert]
    today = date.today()
    lapsing = [{"username": u.username, "role": u.role, "organisation": u.organisation, "what": what}
               for u in people.all() if not u.disabled
               for what in users.lapsing(u, today, policy, policy.lapse_warning_days)]
    return {
        "from": since, "to": until, "records": len(rows), "generated_at": datetime.now(timezone.utc),
        "per_user_purpose": [{"username": u, "purpose": p, "accesses": n}
                             for (u, p), n in sorted(per_user_purpose.items())],
        "denied": denied, "no_case": no_case, "after_hours": after_hours, "heavy_lookups": heavy,
        "lapsing": lapsing,
    }


SECTIONS = {
    "per_user_purpose": "Accesses per user and purpose",
    "denied": "Denied attempts",
    "no_case": "LPR accesses without a case number",
    "after_hours": "Accesses outside business hours",
    "heavy_lookups": "Unusually many plate lookups in a day",
    "lapsing": "Certifications and policy reviews lapsing soon",
}
_RECORD_FIELDS = ["seq", "at", "username", "organisation", "role", "client_ip", "origin", "action", "plates", "purpose",
                  "case_id", "outcome", "reason", "rows"]


def _table_rows(items: list[dict]) -> tuple[list[str], list[list[str]]]:
    if not items:
        return [], []
    keys = _RECORD_FIELDS if "seq" in items[0] else list(items[0])
    return keys, [[" ".join(v) if isinstance(v, list) else str(v) for v in (i[k] for k in keys)] for i in items]


def _bars(counts: Counter, title: str) -> str:
    """A horizontal bar chart as inline SVG."""
    if not counts:
        return ""
    items = counts.most_common(20)
    top = max(n for _, n in items)
    h = 22 * len(items) + 30
    bars = "".join(
        f'<text x="0" y="{30 + 22 * i + 14}" font-size="12">{html.escape(str(k))}</text>'
        f'<rect x="200" y="{30 + 22 * i}" width="{max(1, 400 * n / top):.0f}" height="16" fill="#3b6ea5"/>'
        f'<text x="{205 + 400 * n / top:.0f}" y="{30 + 22 * i + 13}" font-size="12">{n}</text>'
        for i, (k, n) in enumerate(items))
    return (f'<svg width="660" height="{h}" xmlns="http://www.w3.org/2000/svg">'
            f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>{bars}</svg>')


def write(report: dict, out: Path) -> list[Path]:
    """CSV per section and report.html; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths, parts = [], []
    for key, title in SECTIONS.items():
        keys, rows = _table_rows(report[key])
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if keys:
            w.writerow(keys)
            w.writerows(rows)
        (out / f"{key}.csv").write_text(buf.getvalue())
        paths.append(out / f"{key}.csv")
        table = ("<table><tr>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "</tr>"
                 + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                 + "</table>") if rows else "<p>None.</p>"
        parts.append(f"<h2>{html.escape(title)} ({len(rows)})</h2>{table}")
    per_user = Counter()
    for r in report["per_user_purpose"]:
        per_user[r["username"]] += r["accesses"]
    denied_by_user = Counter(r["username"] or "(unknown)" for r in report["denied"])
    charts = _bars(per_user, "Accesses per user") + _bars(denied_by_user, "Denied attempts per user")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>ALPR access audit</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px}}</style>
</head><body><h1>ALPR access audit {report['from']:%Y-%m-%d} to {report['to']:%Y-%m-%d}</h1>
<p>{report['records']} audit records. Generated {report['generated_at']:%Y-%m-%d %H:%M} UTC.</p>
{charts}{''.join(parts)}</body></html>
"""
    (out / "report.html").write_text(page)
    paths.append(out / "report.html")
    return paths
