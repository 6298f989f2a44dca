"""ClickHouse access through clickhouse-connect: chDB in-process by default, a server in production.

chDB allows one data path per process and one process per path, so the process that runs the
flow owns the embedded database while it runs.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from alpr.config import Config
from alpr.matching import FOLD_FROM, FOLD_TO

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "infra" / "clickhouse" / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def utc(value: datetime | None) -> datetime | None:
    """clickhouse-connect returns the UTC columns as naive datetimes: give them back their zone."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def connect(cfg: Config) -> Client:
    url = cfg.clickhouse_url
    if url.startswith("chdb://"):
        Path(urlsplit(url).path).mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(dsn=url)


def _statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration file, in version order."""
    out = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise ValueError(f"migration file {path.name} must be named NNNN_name.sql")
        out.append((int(m.group(1)), path.stem, path.read_text()))
    return out


def migrate(client: Client, cfg: Config) -> list[str]:
    """Apply the migrations not yet recorded in schema_migrations; return the names applied."""
    db = cfg.clickhouse.database
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {row[0] for row in client.query(f"SELECT version FROM {db}.schema_migrations FINAL").result_rows}
    applied = []
    for version, name, sql in migrations():
        if version in done:
            continue
        for statement in _statements(sql):
            client.command(statement.format(
                db=db, retention_years=cfg.policy.retention_years, fold_from=FOLD_FROM, fold_to=FOLD_TO))
        client.insert(f"{db}.schema_migrations", [[version, name]], column_names=["version", "name"])
        applied.append(name)
    return applied
