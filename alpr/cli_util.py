"""Small helpers every ``alpr`` subcommand module shares."""

from __future__ import annotations

import sys
from datetime import datetime, timezone


def say(msg: str) -> None:
    """Status and errors go to stderr, so stdout stays clean for data (JSON, CSV, TSV)."""
    print(msg, file=sys.stderr, flush=True)


def when(text: str) -> datetime:
    """An ISO 8601 time from the command line; UTC when it names no zone."""
    d = datetime.fromisoformat(text)
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
