"""alpr.retry: capped backoff, one log line per outage, metrics by service."""

import itertools
import logging

import pytest

from alpr import retry
from alpr.metrics import DEPENDENCY_RETRIES, DEPENDENCY_UP


def test_backoff_doubles_up_to_the_cap():
    assert list(itertools.islice(retry.backoff(0.5, 5.0), 7)) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_call_waits_out_a_transient_outage_and_logs_it_once(caplog):
    caplog.set_level(logging.INFO, "alpr.retry")
    outcomes = [ConnectionError("refused")] * 4 + ["ok"]
    slept: list[float] = []

    def flaky() -> str:
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            assert DEPENDENCY_UP.labels("svc-a")._value.get() == 0  # down while it is retried
            raise out
        return out

    before = DEPENDENCY_RETRIES.labels("svc-a")._value.get()
    assert retry.call(flaky, "svc-a", (ConnectionError,), sleep=slept.append) == "ok"
    assert slept == [0.5, 1.0, 2.0, 4.0]
    assert DEPENDENCY_RETRIES.labels("svc-a")._value.get() - before == 4
    assert DEPENDENCY_UP.labels("svc-a")._value.get() == 1
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [lvl for lvl, _ in lines] == ["WARNING", "INFO"]
    assert "svc-a is unavailable (ConnectionError: refused)" in lines[0][1]
    assert "svc-a is available again" in lines[1][1]


def test_call_lets_other_errors_through_at_once():
    slept: list[float] = []

    def broken() -> None:
        raise ValueError("bad row")

    with pytest.raises(ValueError):
        retry.call(broken, "svc-b", (ConnectionError,), sleep=slept.append)
    assert slept == []


def test_call_without_outage_logs_nothing(caplog):
    caplog.set_level(logging.INFO, "alpr.retry")
    assert retry.call(lambda: 7, "svc-c", (ConnectionError,), sleep=lambda s: None) == 7
    assert caplog.records == []


def test_wait_until_says_what_it_waits_for_on_each_try(caplog):
    caplog.set_level(logging.INFO, "alpr.retry")
    answers = iter([False, False, True])
    slept: list[float] = []
    retry.wait_until(lambda: next(answers), "Kafka", "127.0.0.1:9", sleep=slept.append)
    assert slept == [0.5, 1.0]
    assert [r.getMessage() for r in caplog.records] == [
        "waiting for Kafka at 127.0.0.1:9: not reachable, next try in 0.5 s",
        "waiting for Kafka at 127.0.0.1:9: not reachable, next try in 1.0 s",
    ]
