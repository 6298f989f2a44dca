"""Compliance runs in ClickHouse (``compliance_runs``, migration 0009): one row per check per run, so
the API's gauges, the alert on a missed nightly run and an auditor's look back all read one record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from alpr.compliance.checks import Check
from alpr.store.db import utc

COLUMNS = ["run_id", "run_at", "run_by", "check_name", "clauses", "result", "detail"]


@dataclass(frozen=True)
class Run:
    run_id: str
    run_at: datetime
    run_by: str
    checks: list[Check]


def save(client: Client, db: str, run_at: datetime, run_by: str, checks: list[Check]) -> Run:
    run = Run(uuid.uuid4().hex, run_at, run_by, checks)
    client.insert(f"{db}.compliance_runs",
                  [[run.run_id, run_at, run_by, c.name, list(c.clauses), c.result, c.detail] for c in checks],
                  column_names=COLUMNS, settings={"insert_quorum": "auto"})
    return run


def latest(client: Client, db: str) -> Run | None:
    """The newest run, whole; None before the first."""
    rows = client.query(
        f"SELECT {', '.join(COLUMNS)} FROM {db}.compliance_runs WHERE run_id = "
        f"(SELECT argMax(run_id, run_at) FROM {db}.compliance_runs) ORDER BY check_name").result_rows
    if not rows or not rows[0][0]:
        return None
    run_id, run_at, run_by = rows[0][:3]
    return Run(run_id, utc(run_at), run_by, [Check(name, result, detail, tuple(clauses))
                                             for *_, name, clauses, result, detail in rows])
