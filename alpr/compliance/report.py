"""The compliance report: the map's clauses with the live results of their checks, as a dict (the
JSON the API returns and the HTML page renders) and as the plain text the CLI prints. Pure."""

from __future__ import annotations

from datetime import datetime

from alpr.compliance.checks import CHECKS, Check
from alpr.compliance.clauses import Clause
from alpr.compliance.rules import FAIL, NOT_CHECKED, PASS, clause_result

LABELS = {PASS: "PASS", FAIL: "FAIL", NOT_CHECKED: "NOT CHECKED"}


def build(clauses: list[Clause], checks: list[Check], map_problems: list[str], *, run_id: str, run_at: datetime,
          run_by: str) -> dict:
    """Per clause: statement, result, the details of its checks, enforcing code and tests. A map that
    is untrue (``map_problems``) fails the report too: it is what the auditor is handed."""
    by_name = {c.name: c for c in checks}
    rows = []
    for cl in clauses:
        mine = [by_name[n] for n in cl.checks if n in by_name]
        rows.append({
            "clause": cl.id, "title": cl.title, "statement": cl.statement,
            "result": clause_result(c.result for c in mine),
            "checks": [{"check": c.name, "title": CHECKS[c.name][0], "result": c.result, "detail": c.detail}
                       for c in mine],
            "code": list(cl.code), "tests": list(cl.tests),
        })
    results = [c.result for c in checks] + [FAIL] * bool(map_problems)
    return {
        "run_id": run_id, "run_at": run_at.isoformat(), "run_by": run_by,
        "passed": FAIL not in results,
        "summary": {r: sum(x["result"] == r for x in rows) for r in (PASS, FAIL, NOT_CHECKED)},
        "checks": [{"check": c.name, "title": CHECKS[c.name][0], "result": c.result, "detail": c.detail,
                    "clauses": list(c.clauses)} for c in checks],
        "map_problems": map_problems,
        "clauses": rows,
    }


def text(report: dict) -> str:
    """One block per clause (clause, statement, result, detail), then the summary line."""
    lines = [f"ALPR compliance report {report['run_at'][:16].replace('T', ' ')} UTC, run by {report['run_by']}", ""]
    for row in report["clauses"]:
        lines.append(f"{row['clause']:<11} {LABELS[row['result']]:<11} {row['title']}: {row['statement']}")
        for c in row["checks"]:
            lines.append(f"{'':11} {LABELS[c['result']]:<11} {c['check']}: {c['detail']}")
    for p in report["map_problems"]:
        lines.append(f"map         FAIL        {p}")
    s = report["summary"]
    failed = [c["check"] for c in report["checks"] if c["result"] == FAIL]
    lines += ["", f"{s[PASS]} clauses pass, {s[FAIL]} fail, {s[NOT_CHECKED]} not checked"
              + (f"; failing checks: {', '.join(failed)}" if failed else "")
              + ("; the compliance map is untrue" if report["map_problems"] else "")]
    return "\n".join(lines) + "\n"
