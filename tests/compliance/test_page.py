"""The HTML compliance report, as the auditors get it, in real headless Chromium (Playwright): a run of
`alpr compliance report --html` on a deployment with one lapsed CLETS certification. The page is
self-contained (it asks for nothing over the network) and shows the failure where an auditor looks.

ALPR_COMPLIANCE_SCREENSHOT=$PWD/docs/compliance.png writes the screenshot in the docs (an absolute path:
the test runs in its own directory)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from alpr.store.users import User, UserStore
from tests.compliance.deployment import AUDITOR, NOW, compliant

pytestmark = pytest.mark.integration
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)", allow_module_level=True)

SCREENSHOT = os.environ.get("ALPR_COMPLIANCE_SCREENSHOT", "")


def test_the_report_page_shows_the_failing_clause_its_detail_code_and_tests(cfg, cli, monkeypatch, tmp_path):
    monkeypatch.delenv("ALPR_COMPLIANCE_SCREENSHOT", raising=False)  # ALPR_* is configuration to the CLI
    dep = compliant(cfg)
    UserStore(dep["client"], dep["db"]).put(User(
        "ofc.reyes", "Dana Reyes", "City PD", "officer", trained_at=NOW.date(),
        certified_until=NOW.date() - timedelta(days=3), policy_reviewed_at=NOW.date()))
    assert cli.login(AUDITOR, f"test-passphrase-for-{AUDITOR}") == 0
    assert cli("compliance", "report", "--html", "compliance.html", user=AUDITOR) == 1
    html_file = tmp_path / "compliance.html"

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--headless", "--no-sandbox", "--disable-background-networking"])
        page = browser.new_context(viewport={"width": 1100, "height": 1240}).new_page()
        asked = []
        page.on("request", lambda r: asked.append(r.url))
        page.goto(html_file.as_uri())
        assert asked == [html_file.as_uri()], "the page loads nothing but itself"

        assert page.title().startswith("ALPR compliance report")
        verdict = page.locator("#verdict").inner_text()
        assert "3 of 14 clauses failing" in verdict
        assert "Failing checks: Enabled users trained, CLETS-certified and policy-reviewed" in verdict
        assert page.locator("#verdict svg rect").count() >= 4  # the bar and its legend, drawn inline

        failing = page.locator("#checks tr", has_text="FAIL")
        assert failing.count() == 1
        assert "ofc.reyes (CLETS certification expired on" in failing.inner_text()
        assert page.locator("#checks tr", has_text="PASS").count() == 7

        assert page.locator("section.clause").count() == 14
        failed = page.locator('section.clause[data-result="fail"]')
        assert [failed.nth(i).get_attribute("id") for i in range(failed.count())] == ["c820.2", "c820.3", "c1798.90.53"]
        clause = page.locator('section.clause[id="c820.3"]')
        text = clause.inner_text()
        assert "Only trained users with a current CLETS certification" in text
        assert "ofc.reyes" in text
        assert "alpr/store/users.py::refusal" in text
        assert "tests/access/test_access.py::test_the_policy_keeps_out_users_who_are_not_current" in text
        colour = clause.evaluate("e => getComputedStyle(e).borderTopColor")
        assert colour == "rgb(192, 38, 45)"  # the failing red

        page.locator('#index a[href="#c820.3"]').click()  # the index leads to the clause
        assert page.evaluate("location.hash") == "#c820.3"
        if SCREENSHOT:
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=SCREENSHOT, full_page=False)
        browser.close()
