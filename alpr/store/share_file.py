"""The file of sharing requests and the transparency report, written out for people: CSV and a
self-contained HTML page (no external assets), as the records office keeps and publishes them."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import asdict, fields
from datetime import datetime

from alpr.domain.sharing import AGENCY_TYPES, ShareRequest

FILE_FIELDS = [f.name for f in fields(ShareRequest)]
_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#1d2733}
h1{font-size:1.4em;margin-bottom:.2em} .sub{color:#5a6673;margin-top:0}
table{border-collapse:collapse;font-size:.85em;margin:1em 0} th{background:#eef2f6;text-align:left}
td,th{border:1px solid #cfd7df;padding:4px 6px;vertical-align:top}
.fulfilled{color:#1b6e33} .refused,.denied{color:#a3261a} .pending,.approved{color:#8a5a00}"""


def record(req: ShareRequest) -> dict:
    """One request as plain JSON-able values (times in ISO 8601), for the CLI's --json and the API."""
    return {k: (v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(req).items()}


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return "" if value is None else str(value)


def to_csv(requests: list[ShareRequest]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(FILE_FIELDS)
    for r in requests:
        row = asdict(r)
        w.writerow([_text(row[k]) for k in FILE_FIELDS])
    return out.getvalue()


def _page(title: str, subtitle: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p class="sub">{html.escape(subtitle)}</p>{body}</body></html>\n')


def to_html(requests: list[ShareRequest], title: str, footer: str) -> str:
    """The request file as one table: who asked, why, for what, the decision and what was sent."""
    head = ["Request", "Received", "Agency", "Requester", "Reason and case", "Asked for", "Letter", "Status",
            "Decision", "Sent"]
    rows = []
    for r in requests:
        asked = [f"plates {', '.join(r.plates)}" if r.plates else "", f"cameras {', '.join(r.cameras)}" if r.cameras else "",
                 f"area {r.area}" if r.area else "", f"{r.since:%Y-%m-%d %H:%M} to {r.until:%Y-%m-%d %H:%M} UTC"]
        decision = (f"{r.decided_by} {r.decided_at:%Y-%m-%d %H:%M}: {r.decision_note or r.refusal_reason}"
                    if r.decided_at else r.refusal_reason)
        sent = (f"{r.reads_shared} reads by {r.fulfilled_by} {r.fulfilled_at:%Y-%m-%d %H:%M}, package "
                f"{r.package_sha256[:16]}…" if r.fulfilled_at else "")
        cells = [r.request_id, f"{r.received_at:%Y-%m-%d %H:%M} by {r.entered_by}",
                 f"{r.agency_name} ({r.agency_ori}), {AGENCY_TYPES.get(r.agency_type, r.agency_type)}, {r.agency_state}",
                 f"{r.requester_name}, {r.requester_title}, {r.requester_contact}", f"{r.reason} (case {r.case_number})",
                 "; ".join(a for a in asked if a),
                 f"{r.letter_name} sha256 {r.letter_sha256[:16]}…" if r.letter_sha256 else "none",
                 r.status, decision, sent]
        rows.append("<tr>" + "".join(f"<td{' class=' + repr(r.status) if i == 7 else ''}>{html.escape(c)}</td>"
                                     for i, c in enumerate(cells)) + "</tr>")
    table = ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"
             if rows else "<p>No requests.</p>")
    return _page(title, footer, table)


def transparency_html(report: dict) -> str:
    """The publishable report: shares per agency per month and refusals by reason, no plates or people."""
    shares = "".join(f"<tr><td>{html.escape(s['month'])}</td><td>{html.escape(s['agency'])}</td>"
                     f"<td>{html.escape(s['ori'])}</td><td>{s['shares']}</td><td>{s['reads']}</td></tr>"
                     for s in report["shares"])
    refusals = "".join(f"<tr><td>{html.escape(r['reason'])}</td><td>{r['requests']}</td></tr>"
                       for r in report["refusals"])
    body = (f"<p>{report['requests_received']} written requests received.</p>"
            "<h2>Data shared, per agency and month</h2>"
            + ("<table><tr><th>Month</th><th>Agency</th><th>ORI</th><th>Shares</th><th>Reads</th></tr>"
               f"{shares}</table>" if shares else "<p>None.</p>")
            + "<h2>Requests refused or denied, by reason</h2>"
            + ("<table><tr><th>Reason</th><th>Requests</th></tr>" f"{refusals}</table>" if refusals else "<p>None.</p>"))
    title = f"{report['department']}: ALPR data sharing {report['from']:%Y-%m-%d} to {report['to']:%Y-%m-%d}"
    return _page(title, "Civil Code 1798.90.55: shared only with California public agencies, on written request.",
                 body)
