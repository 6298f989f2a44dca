"""Small helpers every ``alpr`` subcommand module shares: status output and the exit codes."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from enum import IntEnum


class Exit(IntEnum):
    """What an ``alpr`` command's exit status means; scripts and timers branch on these."""

    OK = 0
    FAILED = 1  # nothing found, a check failed, or nothing was done
    USAGE = 2  # bad arguments, configuration or input
    REFUSED = 3  # access refused, or the audit record could not be written
    REDIS_DOWN = 4
    KAFKA_DOWN = 5
    CLICKHOUSE_DOWN = 6
    DATABASE_BUSY = 7  # the embedded database is held by another process
    KEY_MISSING = 8  # the hot-list or access-log key is missing or unusable
    EXTRA_MISSING = 9  # an optional package set (the train extra) is not installed
    INTERNAL = 70  # a bug: the one-line reason, and the traceback with -v
    INTERRUPTED = 130
    PIPE_CLOSED = 141  # whoever read the output stopped reading (as a shell reports SIGPIPE)


def say(msg: str) -> None:
    """Status and errors go to stderr, so stdout stays clean for data (JSON, CSV, TSV)."""
    print(msg, file=sys.stderr, flush=True)


def when(text: str) -> datetime:
    """An ISO 8601 time from the command line; UTC when it names no zone."""
    d = datetime.fromisoformat(text)
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
