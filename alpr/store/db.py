"""ClickHouse access through clickhouse-connect: chDB in-process by default, a server in production.

chDB allows one data path per process and one process per path, so the process that runs the
flow owns the embedded database while it runs. The owner holds a lock file beside the database
naming its pid and command, so a second process is refused with who holds it, not chDB's riddle.
The embedded files hold password hashes, the audit log and reads: they are private to the owner
(directories 0700, files 0600).
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ProgrammingError

from alpr.config import Config
from alpr.domain.matching import FOLD_FROM, FOLD_TO

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "infra" / "clickhouse" / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def utc(value: datetime | None) -> datetime | None:
    """clickhouse-connect returns the UTC columns as naive datetimes: give them back their zone."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class DatabaseBusy(RuntimeError):
    """The embedded database is open in another process (chDB allows one process per path)."""


_owned: dict[Path, IO[str]] = {}  # lock files this process holds, kept open for its lifetime


def _private(path: Path) -> None:
    """Take group and other permissions off a directory tree this process owns."""
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            mode = os.lstat(name).st_mode
            if mode & 0o077 and not os.path.islink(name):
                os.chmod(name, mode & 0o700)


def _claim(path: Path) -> bool:
    """Hold ``<path>.owner`` while this process lives (True when newly taken); DatabaseBusy names
    the process that holds it."""
    path = path.resolve()
    if path in _owned:
        return False
    fh = open(path.with_name(path.name + ".owner"), "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "an unknown process"
        fh.close()
        raise DatabaseBusy(f"the embedded database {path} is in use by {holder}; stop that process, use the API it "
                           "serves if it runs with --serve (search, SQL, audit, console), or set clickhouse.url to a "
                           "ClickHouse server that many processes can share") from None
    fh.seek(0)
    fh.truncate()
    command = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]) if sys.argv else "python"
    fh.write(f"pid {os.getpid()} ({command[:200]})")
    fh.flush()
    _owned[path] = fh
    return True


def check_free(cfg: Config) -> None:
    """Raise DatabaseBusy when another process holds the embedded database: a preflight for
    commands that hand the database over to a child process."""
    url = cfg.clickhouse_url
    path = Path(urlsplit(url).path).resolve()
    if url.startswith("chdb://") and path.exists() and _claim(path):
        _owned.pop(path).close()


def connect(cfg: Config) -> Client:
    url = cfg.clickhouse_url
    if not url.startswith("chdb://"):
        return clickhouse_connect.get_client(dsn=url)
    path = Path(urlsplit(url).path)
    os.umask(0o077)  # chDB writes its files from this process: keep them private to the owner
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in {cfg.data_path, path}:
        if folder.is_dir() and folder.stat().st_mode & 0o077:
            os.chmod(folder, 0o700)
    if _claim(path):
        _private(path)  # files that an older version or another umask left readable
    try:
        return clickhouse_connect.get_client(dsn=url)
    except ProgrammingError as exc:  # chDB itself says only "Error initializing EmbeddedServer"
        raise DatabaseBusy(f"the embedded database {path} could not be opened; another process may hold it "
                           f"({str(exc).splitlines()[0][:200]})") from exc


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
