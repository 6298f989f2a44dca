"""README command 1 in small: `alpr demo --json` from the command line, in its own process."""

import json
import os
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
