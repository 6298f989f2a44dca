"""The compliance report as one self-contained HTML page, for the department's auditors at the annual
review: no external assets (inline CSS and SVG), printable, everything escaped. Pure."""

from __future__ import annotations

import html

from alpr.compliance.report import LABELS
from alpr.compliance.rules import FAIL, NOT_CHECKED, PASS

COLOURS = {PASS: "#1b7f3b", FAIL: "#c0262d", NOT_CHECKED: "#8a6a00"}
CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f5f8;color:#1d2733;font:15px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",
  "Helvetica Neue",Arial,sans-serif}
main{max-width:1000px;margin:0 auto;padding:28px 32px 40px}
header{background:#17324d;color:#fff;padding:26px 0 22px}
header div{max-width:1000px;margin:0 auto;padding:0 32px}
h1{margin:0 0 4px;font-size:26px;font-weight:650;letter-spacing:.2px}
header p{margin:0;color:#c9d6e3}
h2{font-size:18px;margin:30px 0 12px}
.verdict{display:flex;align-items:center;gap:22px;background:#fff;border-radius:10px;padding:20px 24px;
  box-shadow:0 1px 3px rgba(0,0,0,.08);border-left:8px solid var(--c)}
.verdict strong{font-size:22px;display:block}
.verdict span{color:#4a5868}
.badge{display:inline-block;min-width:96px;text-align:center;padding:2px 10px;border-radius:999px;color:#fff;
  font-size:12px;font-weight:700;letter-spacing:.6px;background:var(--c)}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:10px;overflow:hidden;
  box-shadow:0 1px 3px rgba(0,0,0,.08)}
th,td{text-align:left;padding:9px 12px;border-bottom:1px solid #e6eaef;vertical-align:top}
th{background:#eef2f6;font-size:12px;text-transform:uppercase;letter-spacing:.5px;color:#4a5868}
tr:last-child td{border-bottom:0}
td.detail{color:#36424f}
a{color:#1f5b94;text-decoration:none}
.clause{background:#fff;border-radius:10px;padding:16px 22px 12px;margin:0 0 14px;box-shadow:0 1px 3px rgba(0,0,0,.08);
  border-top:5px solid var(--c);break-inside:avoid}
.clause h3{margin:0 0 6px;font-size:17px;display:flex;justify-content:space-between;gap:12px;align-items:center}
.clause .statement{margin:0 0 10px}
.clause h4{margin:10px 0 4px;font-size:12px;text-transform:uppercase;letter-spacing:.5px;color:#5b6877}
.clause ul{margin:0 0 6px;padding-left:18px}
.clause li{margin:2px 0}
code{font:12.5px/1.4 "DejaVu Sans Mono",Menlo,Consolas,monospace;color:#22364a;word-break:break-all}
.result{font-weight:700;color:var(--c)}
.chip{display:inline-block;white-space:nowrap;font-size:12px;background:#eef2f6;border-radius:4px;padding:0 6px;margin:0 4px 4px 0}
.problems{background:#fdecea;border:1px solid #f5c2c0;border-radius:8px;padding:10px 16px}
footer{color:#5b6877;font-size:13px;margin-top:28px;border-top:1px solid #d8dee6;padding-top:12px}
@media print{body{background:#fff}header{background:#fff;color:#000;border-bottom:2px solid #000}
  header p{color:#333}.clause,table,.verdict{box-shadow:none;border:1px solid #ccc}}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _badge(result: str) -> str:
    return f'<span class="badge" style="--c:{COLOURS[result]}">{LABELS[result]}</span>'


def _bar(summary: dict) -> str:
    """The clauses by result as one stacked bar, with its legend, in inline SVG."""
    total = sum(summary.values()) or 1
    x, parts, legend = 0.0, [], []
    for i, result in enumerate((PASS, FAIL, NOT_CHECKED)):
        w = 360 * summary[result] / total
        if w:
            parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="18" fill="{COLOURS[result]}"/>')
        x += w
        legend.append(f'<rect x="{i * 120}" y="30" width="11" height="11" rx="2" fill="{COLOURS[result]}"/>'
                      f'<text x="{i * 120 + 16}" y="40" font-size="12" fill="#36424f">{summary[result]} '
                      f'{LABELS[result].lower()}</text>')
    return (f'<svg width="360" height="46" viewBox="0 0 360 46" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="clauses by result"><rect width="360" height="18" rx="4" fill="#e6eaef"/>{"".join(parts)}'
            f'{"".join(legend)}</svg>')


def _verdict(report: dict) -> str:
    s = report["summary"]
    total = sum(s.values())
    if s[FAIL] or report["map_problems"]:
        head = f"{s[FAIL]} of {total} clauses failing" if s[FAIL] else "The compliance map is untrue"
        colour = COLOURS[FAIL]
        failed = [c["title"] for c in report["checks"] if c["result"] == FAIL]
        sub = "Failing checks: " + "; ".join(failed) if failed else "See the problems with the map below"
    elif s[NOT_CHECKED]:
        head, colour = f"{s[PASS]} of {total} clauses pass, {s[NOT_CHECKED]} not checked", COLOURS[NOT_CHECKED]
        sub = "Every check that ran passed"
    else:
        head, colour, sub = f"All {total} clauses pass", COLOURS[PASS], "Every live check passed"
    return (f'<section class="verdict" style="--c:{colour}" id="verdict"><div style="flex:1"><strong>{_e(head)}</strong>'
            f'<span>{_e(sub)}</span></div>{_bar(s)}</section>')


def _chips(items: list[str]) -> str:
    return "".join(f'<span class="chip">{_e(x)}</span>' for x in items)


def _checks_table(report: dict) -> str:
    rows = "".join(
        f'<tr><td>{_badge(c["result"])}</td><td><b>{_e(c["title"])}</b><br><code>{_e(c["check"])}</code></td>'
        f'<td class="detail">{_e(c["detail"])}</td><td>{_chips(c["clauses"])}</td></tr>'
        for c in report["checks"])
    return (f'<table id="checks"><tr><th style="width:118px">Result</th><th style="width:290px">Live check</th>'
            f'<th>Detail</th><th style="width:170px">Proves</th></tr>{rows}</table>')


def _index(report: dict) -> str:
    rows = "".join(
        f'<tr><td><a href="#c{_e(r["clause"])}">{_e(r["clause"])}</a></td><td>{_e(r["title"])}</td>'
        f'<td>{_badge(r["result"])}</td></tr>' for r in report["clauses"])
    return f'<table id="index"><tr><th style="width:120px">Clause</th><th>Subject</th><th style="width:130px">Result</th></tr>{rows}</table>'


def _clause(row: dict) -> str:
    checks = "".join(f'<li><span class="result" style="--c:{COLOURS[c["result"]]}">{LABELS[c["result"]]}</span> '
                     f'{_e(c["title"])}: {_e(c["detail"])}</li>' for c in row["checks"]) or "<li>No live check.</li>"
    code = "".join(f"<li><code>{_e(c)}</code></li>" for c in row["code"])
    tests = "".join(f"<li><code>{_e(t)}</code></li>" for t in row["tests"])
    return (f'<section class="clause" id="c{_e(row["clause"])}" data-result="{row["result"]}" '
            f'style="--c:{COLOURS[row["result"]]}"><h3><span>{_e(row["clause"])} {_e(row["title"])}</span>'
            f'{_badge(row["result"])}</h3><p class="statement">{_e(row["statement"])}</p>'
            f'<h4>Live result</h4><ul>{checks}</ul><h4>Enforced by</h4><ul>{code}</ul>'
            f'<h4>Proved by</h4><ul>{tests}</ul></section>')


def render(report: dict) -> str:
    """The whole page for a report built by ``alpr.compliance.report.build``."""
    problems = "".join(f"<li>{_e(p)}</li>" for p in report["map_problems"])
    problems = (f'<h2>The compliance map is untrue</h2><div class="problems"><ul>{problems}</ul></div>'
                if problems else "")
    when = report["run_at"][:16].replace("T", " ")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ALPR compliance report {_e(when)} UTC</title><style>{CSS}</style></head>
<body><header><div><h1>ALPR compliance report</h1>
<p>Policy 820 (Automated License Plate Readers) and California Civil Code 1798.90.51&ndash;.55 &middot;
run {_e(when)} UTC by {_e(report["run_by"])} &middot; run {_e(report["run_id"][:12])}</p></div></header>
<main>{_verdict(report)}
<h2>Live checks</h2>{_checks_table(report)}
{problems}
<h2>Clauses</h2>{_index(report)}
<h2>Each clause: requirement, result, enforcing code and tests</h2>
{"".join(_clause(r) for r in report["clauses"])}
<footer>Statements are the project's one-line summary of each requirement, not legal text. The map from
clause to code and tests is <code>alpr/compliance/clauses.toml</code>, checked against the source on every
run and by <code>tests/compliance/test_map.py</code>. A clause fails when any of its live checks fails and
passes when all of them ran and passed.</footer></main></body></html>
"""
