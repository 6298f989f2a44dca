"""Waiting out a dependency that went away (Redis, ClickHouse, Kafka) instead of crashing.

A crash would not help: the flow restarts from its last snapshot and hits the same outage. Waiting
with capped exponential backoff delays reads and hits but drops and duplicates nothing. An outage
logs one warning when it starts and one line when it ends, not a line per try; the metrics say
which dependency is down (``alpr_dependency_up``) and how often it was retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from alpr.metrics import DEPENDENCY_RETRIES, DEPENDENCY_UP

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 5.0  # a service that comes back is noticed within this long


def backoff(first_s: float = FIRST_DELAY_S, cap_s: float = MAX_DELAY_S) -> Iterator[float]:
    """Delays between tries: doubling from ``first_s``, never above ``cap_s``."""
    delay = first_s
    while True:
        yield min(delay, cap_s)
        delay = min(delay * 2, cap_s)


def brief(exc: BaseException, limit: int = 200) -> str:
    """One short line about an error, for a log line or a metric-free message."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}" if text else type(exc).__name__


def call(fn: Callable[[], T], service: str, transient: tuple[type[BaseException], ...],
         sleep: Callable[[float], None] = time.sleep, delays: Callable[[], Iterator[float]] = backoff) -> T:
    """``fn()``, tried again after each transient error until it succeeds; other errors propagate.

    Blocks the caller while the service is away, so whatever it was doing resumes exactly where it
    stopped when the service returns.
    """
    waits: Iterator[float] | None = None
    down_since = 0.0
    while True:
        try:
            result = fn()
        except transient as exc:
            if waits is None:
                waits, down_since = delays(), time.monotonic()
                DEPENDENCY_UP.labels(service).set(0)
                log.warning("%s is unavailable (%s); waiting for it, retrying with backoff", service, brief(exc))
            DEPENDENCY_RETRIES.labels(service).inc()
            sleep(next(waits))
            continue
        if waits is not None:
            log.info("%s is available again after %.1f s", service, time.monotonic() - down_since)
        DEPENDENCY_UP.labels(service).set(1)
        return result


def wait_until(ready: Callable[[], bool], service: str, where: str,
               sleep: Callable[[float], None] = time.sleep, delays: Callable[[], Iterator[float]] = backoff) -> None:
    """Block until ``ready()`` is true, logging one line per try (a process starting before its
    dependency says what it waits for, instead of failing with a traceback)."""
    waits = delays()
    while not ready():
        DEPENDENCY_UP.labels(service).set(0)
        DEPENDENCY_RETRIES.labels(service).inc()
        delay = next(waits)
        log.warning("waiting for %s at %s: not reachable, next try in %.1f s", service, where, delay)
        sleep(delay)
    DEPENDENCY_UP.labels(service).set(1)
