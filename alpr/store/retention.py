"""Two-year retention (the policy's default): the rule, the daily enforcement job and its report.

The tables carry a TTL that deletes unheld rows ``N`` years after capture, but ClickHouse applies
TTL lazily, on merges. ``enforce`` makes expiry happen now and records what it removed. It first
re-applies every active evidence hold, so a hold can never be lost to a replayed insert.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client

from alpr.domain.dates import add_years
from alpr.store.db import utc

# Tables whose rows expire with their read; each has read_id, captured_at and hold.
EXPIRING = ("reads", "read_images", "hits")
SYNC = {"mutations_sync": 2, "allow_nondeterministic_mutations": 1}


def cutoff(now: datetime, years: int) -> datetime:
    """Reads captured before this instant are past retention (29 February counts back to the 28th)."""
    return add_years(now, -years)


@dataclass(frozen=True)
class EnforcementRun:
    run_at: datetime
    retention_years: int
    cutoff: datetime
    reads_removed: int
    images_removed: int
    hits_removed: int
    plates_removed: int
    held_reads: int


def _active_holds(db: str) -> str:
    return f"SELECT read_id FROM {db}.evidence_holds FINAL WHERE released_at IS NULL"


def reapply_holds(client: Client, db: str) -> None:
    for table in EXPIRING:
        client.command(f"ALTER TABLE {db}.{table} UPDATE hold = 1 WHERE hold = 0 AND read_id IN ({_active_holds(db)})",
                       settings=SYNC)


def enforce(client: Client, db: str, years: int, now: datetime | None = None) -> EnforcementRun:
    """Delete every unheld read, image and hit captured before the cutoff, and plates left without reads."""
    now = now or datetime.now(timezone.utc)
    limit = cutoff(now, years)
    reapply_holds(client, db)
    removed = {}
    for table in EXPIRING:
        expired = "captured_at < %(cutoff)s AND hold = 0"
        key = "hit_id" if table == "hits" else "read_id"
        removed[table] = client.command(f"SELECT uniqExact({key}) FROM {db}.{table} WHERE {expired}",
                                        parameters={"cutoff": limit})
        if removed[table]:
            client.command(f"ALTER TABLE {db}.{table} DELETE WHERE {expired}", parameters={"cutoff": limit},
                           settings=SYNC)
    orphans = f"plate NOT IN (SELECT plate FROM {db}.reads)"
    plates_removed = client.command(f"SELECT count() FROM {db}.plates FINAL WHERE {orphans}")
    if plates_removed:
        client.command(f"ALTER TABLE {db}.plates DELETE WHERE {orphans}", settings=SYNC)
    run = EnforcementRun(
        run_at=now, retention_years=years, cutoff=limit, reads_removed=removed["reads"],
        images_removed=removed["read_images"], hits_removed=removed["hits"], plates_removed=plates_removed,
        held_reads=client.command(f"SELECT uniqExact(read_id) FROM {db}.reads WHERE hold = 1"),
    )
    row = asdict(run)
    client.insert(f"{db}.retention_runs", [list(row.values())], column_names=list(row))
    return run


def _volume_by_month(client: Client, db: str) -> list[dict]:
    """Reads, read bytes and image bytes per month. Reads are partitioned by quarter (see migration
    0002), so their bytes are the quarter's bytes shared out by rows; images are partitioned by month."""
    parts = client.query(
        "SELECT table, partition, sum(rows), sum(bytes_on_disk) FROM system.parts "
        "WHERE database = %(db)s AND table IN ('reads', 'read_images') AND active GROUP BY table, partition",
        parameters={"db": db}).result_rows
    quarters = {p: (rows, size) for t, p, rows, size in parts if t == "reads"}
    image_bytes = {p: size for t, p, _, size in parts if t == "read_images"}
    out = []
    for month, quarter, rows in client.query(
            f"SELECT toYYYYMM(captured_at) AS m, toString(toStartOfQuarter(captured_at)) AS q, count() "
            f"FROM {db}.reads GROUP BY m, q ORDER BY m").result_rows:
        q_rows, q_bytes = quarters.get(quarter, (0, 0))
        out.append({"month": str(month), "reads": rows, "read_bytes": round(q_bytes * rows / q_rows) if q_rows else 0,
                    "image_bytes": image_bytes.get(str(month), 0)})
    return out


def report(client: Client, db: str, years: int, now: datetime | None = None) -> dict:
    """Where retention stands: the oldest unheld read against the limit, volume per month, holds, last run."""
    now = now or datetime.now(timezone.utc)
    limit = cutoff(now, years)
    oldest_at = client.query(f"SELECT minOrNull(captured_at) FROM {db}.reads FINAL WHERE hold = 0").result_rows[0][0]
    oldest_at = utc(oldest_at)
    per_month = _volume_by_month(client, db)
    holds = client.query(
        f"SELECT case_id, count(), min(held_at) FROM {db}.evidence_holds FINAL WHERE released_at IS NULL "
        f"GROUP BY case_id ORDER BY case_id").result_rows
    last = client.query(f"SELECT * FROM {db}.retention_runs ORDER BY run_at DESC LIMIT 1")
    last_run = dict(zip(last.column_names, last.result_rows[0])) if last.result_rows else None
    return {
        "retention_years": years,
        "cutoff": limit,
        "oldest_unheld_read": oldest_at,
        "within_limit": oldest_at is None or oldest_at >= limit,
        "months": per_month,
        "held_by_case": [{"case_id": c, "reads": n, "held_since": t} for c, n, t in holds],
        "last_enforcement": last_run,
    }
