"""`alpr ingest` and `alpr simulate` publish frames the read flow accepts, on a real broker."""

import json
import urllib.request

import cv2
import numpy as np
import pytest

from alpr.app.cli import main
from alpr.dev.stack import free_port
from alpr.messages import frames
from tests.conftest import consume_all

pytestmark = pytest.mark.integration


def _env(monkeypatch, cfg):
    monkeypatch.setenv("ALPR_DATA_DIR", cfg.data_dir)
    monkeypatch.setenv("ALPR_KAFKA__BOOTSTRAP_SERVERS", cfg.kafka.bootstrap_servers)
    monkeypatch.setenv("ALPR_KAFKA__FRAMES_TOPIC", cfg.kafka.frames_topic)
    monkeypatch.setenv("ALPR_MONITORING__PUBLISHER_METRICS_PORT", "0")


def _frames_on(cfg):
    return [frames.parse(m.key(), m.value(), m.headers()) for m in consume_all(cfg, cfg.kafka.frames_topic)]


def test_ingest_image_folder(cfg, monkeypatch, tmp_path):
    _env(monkeypatch, cfg)
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((40, 60, 3), 50 * i, np.uint8))
    assert main(["ingest", str(tmp_path), "--camera-id", "gate-3", "--lat", "40.7", "--lon", "-74.0",
                 "--max-fps", "50"]) == 0
    got = _frames_on(cfg)
    assert len(got) == 4
    assert {m.camera_id for m, _ in got} == {"gate-3"} and all(m.true_plates is None for m, _ in got)


def test_simulate_publishes_frames_with_truth(cfg, monkeypatch, capsys):
    _env(monkeypatch, cfg)
    port = free_port()
    monkeypatch.setenv("ALPR_MONITORING__PUBLISHER_METRICS_PORT", str(port))
    assert main(["simulate", "--fixed", "1", "--mobile", "1", "--frames", "6", "--fast"]) == 0
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'alpr_frames_published_total{camera_id="mobile-01"}' in metrics
    got = _frames_on(cfg)
    assert len(got) == 6
    assert {m.camera_id for m, _ in got} == {"fixed-01", "mobile-01"}
    assert any(m.true_plates for m, _ in got)
    assert all(frames.decode_image(j).shape == (540, 960, 3) for _, j in got)


def test_config_show_masks(monkeypatch, capsys):
    monkeypatch.setenv("ALPR_REDIS__URL", "redis://:topsecret@r:6379/0")
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    assert "topsecret" not in out and json.loads(out)["redis"]["url"] == "redis://:****@r:6379/0"
