"""Prometheus gauges from the latest stored compliance run, read at each scrape of the process that
serves the API (``alpr serve``), so a nightly run made by any process (the CLI on a ClickHouse server,
or GET /v1/compliance on the embedded database) raises the alerts in infra/prometheus/alerts.yml:

- ``alpr_compliance_check_passed{check,clause}``: 1 passed, 0 failed, one series per clause a check proves
  (checks that did not run are left out and counted in ``alpr_compliance_checks_not_checked``);
- ``alpr_compliance_last_run_timestamp_seconds``: when the latest run was made (absent before the first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alpr.compliance.rules import NOT_CHECKED, PASS
from alpr.compliance.runs import Run

log = logging.getLogger(__name__)


def families(run: Run | None) -> list[GaugeMetricFamily]:
    """The gauges for one run (pure: what a scrape shows)."""
    passed = GaugeMetricFamily("alpr_compliance_check_passed",
                               "1 when the check passed in the latest compliance run, 0 when it failed",
                               labels=["check", "clause"])
    skipped = GaugeMetricFamily("alpr_compliance_checks_not_checked",
                                "Checks of the latest compliance run that could not be run")
    out = [passed, skipped]
    if run is None:
        return out
    for c in run.checks:
        if c.result != NOT_CHECKED:
            for clause in c.clauses:
                passed.add_metric([c.name, clause], 1.0 if c.result == PASS else 0.0)
    skipped.add_metric([], float(sum(c.result == NOT_CHECKED for c in run.checks)))
    last = GaugeMetricFamily("alpr_compliance_last_run_timestamp_seconds",
                             "When the latest compliance run was made (Unix time)")
    last.add_metric([], run.run_at.timestamp())
    return [*out, last]


class LatestRun(Collector):
    """Reads the latest run when scraped; a failed read leaves the gauges out (the no-run alert fires)."""

    def __init__(self) -> None:
        self.source: Callable[[], Run | None] | None = None

    def describe(self) -> list:
        return []  # described on scrape: the labels come from the stored run

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.source is None:
            return
        try:
            run = self.source()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail for the database
            log.warning("compliance gauges: the latest run could not be read: %s", exc)
            return
        yield from families(run)


LATEST = LatestRun()
REGISTRY.register(LATEST)


def serve_from(source: Callable[[], Run | None]) -> None:
    """Have this process's /metrics show the run ``source`` returns (the latest stored one)."""
    LATEST.source = source
