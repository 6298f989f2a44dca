"""The request file and the transparency report as people see them, in headless Debian Chromium: what
each shows, that the published report names no plate or person, and that neither page fetches anything."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alpr.domain import sharing
from alpr.domain.sharing import DENIED, FULFILLED, REFUSED, ShareRequest
from alpr.store import share_file

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)", allow_module_level=True)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
BASE = ShareRequest(
    request_id="SR-20261201-AAAAAA", received_at=NOW - timedelta(days=3), entered_by="aa.kim",
    agency_name="Oakland Police Department", agency_ori="CA0010900", agency_type="police", agency_state="CA",
    requester_name="Det. R. Lane", requester_title="Detective", requester_contact="rlane@oaklandpd.example",
    reason="armed robbery suspect vehicle", case_number="OPD-26-1187", since=NOW - timedelta(days=30),
    until=NOW - timedelta(days=4), plates=("7ABC123",), letter_name="request.pdf", letter_sha256="ab" * 32)
REQUESTS = [
    replace(BASE, status=FULFILLED, decided_by="lt.ross", decided_at=NOW - timedelta(days=2),
            decision_note="confirmed by phone", fulfilled_by="ana.berg", fulfilled_at=NOW - timedelta(days=1),
            export_id="e1", package_sha256="cd" * 32, reads_shared=3),
    replace(BASE, request_id="SR-20261202-BBBBBB", agency_name="FBI San Francisco", agency_ori="CAFBISF00",
            agency_type="federal", status=REFUSED, refusal_code="federal",
            refusal_reason="federal agency: California public agencies may share ALPR data only with ..."),
    replace(BASE, request_id="SR-20261203-CCCCCC", status=DENIED, refusal_code="denied", decided_by="lt.ross",
            decided_at=NOW, decision_note="no link to the robbery shown", refusal_reason="no link to the robbery shown"),
]


def open_page(p, path: Path):
    browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                args=["--headless", "--no-sandbox", "--disable-background-networking"])
    page = browser.new_page(viewport={"width": 1280, "height": 700})
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(path.as_uri())
    assert asked == [path.as_uri()], "the page loads nothing but itself"
    return page


def test_the_request_file_and_the_transparency_report_in_a_browser(tmp_path):
    file_page, report_page = tmp_path / "file.html", tmp_path / "transparency.html"
    file_page.write_text(share_file.to_html(REQUESTS, "ALPR sharing requests", "3 requests, all dates"))
    report = {**sharing.transparency(REQUESTS, NOW - timedelta(days=30), NOW + timedelta(days=1)),
              "department": "City PD"}
    report_page.write_text(share_file.transparency_html(report))

    with sync_api.sync_playwright() as p:
        page = open_page(p, file_page)
        rows = page.locator("table tr")
        assert rows.count() == 4
        first = rows.nth(1).inner_text()
        assert "SR-20261201-AAAAAA" in first and "fulfilled" in first and "3 reads by ana.berg" in first
        assert "plates 7ABC123" in first and "OPD-26-1187" in first
        assert "federal agency" in rows.nth(2).inner_text()
        assert page.locator("td.refused").count() == 1 and page.locator("td.denied").count() == 1
        page.screenshot(path=str(tmp_path / "file.png"), full_page=True)

        page = open_page(p, report_page)
        text = page.locator("body").inner_text()
        assert "City PD: ALPR data sharing 2026-11-04 to 2026-12-05" in text
        assert "3 written requests received" in text
        shared = page.locator("table").nth(0).locator("tr").nth(1).inner_text()
        assert shared.split("\t") == ["2026-12", "Oakland Police Department", "CA0010900", "1", "3"]
        refused = page.locator("table").nth(1).inner_text()
        assert "federal agency\t1" in refused and "denied by the approver\t1" in refused
        for private in ("7ABC123", "Lane", "robbery", "aa.kim", "ana.berg"):
            assert private not in text
        page.screenshot(path=str(tmp_path / "transparency.png"), full_page=True)
