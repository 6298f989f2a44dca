"""README command 1 in small: `alpr demo --json` from the command line, in its own process."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_demo_reports_reads_hits_and_accuracy(tmp_path):
    env = dict(
        os.environ,
        ALPR_DATA_DIR=str(tmp_path),
        ALPR_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        ALPR_REDIS__URL=f"redis://127.0.0.1:{free_port()}/0",
        ALPR_FLOW__METRICS_PORT=str(free_port()),
    )
    env.pop("ALPR_HOTLIST_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "alpr", "demo", "--seconds", "40", "--json"], env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["frames"] >= 55
    assert summary["reads"] > 0 and summary["hits"] > 0
    assert summary["read_accuracy"] >= 0.5 and summary["read_precision"] >= 0.8
    assert summary["dead_letters"] == 1
    assert summary["example_result"]
    assert "frames sent" in proc.stderr  # progress was shown while it ran
    # the demo stopped the stack it started
    assert "kafka: stopped" in proc.stderr and "redis: stopped" in proc.stderr
    assert (tmp_path / "keys" / "hotlist.key").stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_demo_serves_the_console_and_it_shows_the_demos_hits(tmp_path):
    """`alpr demo` prints the console's address and a demo account; the console, opened in headless
    Chromium while the demo runs, shows the hits the flow publishes."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("Debian chromium is not installed")
    env = dict(os.environ, ALPR_DATA_DIR=str(tmp_path), ALPR_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
               ALPR_REDIS__URL=f"redis://127.0.0.1:{free_port()}/0", ALPR_FLOW__METRICS_PORT=str(free_port()),
               ALPR_API__PORT=str(free_port()))
    env.pop("ALPR_HOTLIST_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "alpr", "demo", "--seconds", "45", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("dispatch console: "):
                break
        found = re.search(r"dispatch console: (\S+)\s+\(log on as (\S+), password (\S+);", "".join(seen[-1:]))
        assert found, "".join(seen)[-3000:]
        url, user, password = found.groups()
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--headless", "--no-sandbox", "--disable-background-networking"])
            page = browser.new_page()
            page.goto(url)
            page.fill("#username", user)
            page.fill("#password", password)
            page.fill("#purpose", "demo: watching hits arrive")
            page.click("#logon button[type=submit]")
            page.wait_for_selector("#feed.live", timeout=15_000)
            page.wait_for_selector("#hits li", timeout=60_000)  # a listed plate drove past a camera
            shown = page.locator("#hits li .plate").all_inner_texts()
            browser.close()
        out, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["console_url"] == url
    assert set(shown) <= set(summary["hit_plates"]) and shown
    assert "disabled when the demo ends" in "".join(seen)
