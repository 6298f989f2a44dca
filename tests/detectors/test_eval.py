"""`alpr eval` on simulator output (always) and on the real benchmark crops (when present)."""

import json

import pytest

from alpr.app.cli import main
from alpr.config import SimulatorConfig
from alpr.dev.simulator.dataset import write_dataset
from alpr.dev.simulator.traffic import Simulator
from tests.conftest import SHARED_DATASETS

pytestmark = pytest.mark.integration

KEYS = {"images", "plates", "detection_recall", "read_top1", "read_topn", "match_top1", "match_topn", "char_accuracy",
        "calibration_error", "ms_per_image_median", "ms_per_image_p95", "classes", "detector", "ocr", "runtime", "precision"}


def test_eval_scenes_json_and_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALPR_DATA_DIR", str(tmp_path))
    data = tmp_path / "sim"
    write_dataset(Simulator(SimulatorConfig(seed=9, no_plate_ratio=0.0)).frames(realtime=False), data, 12)
    assert main(["eval", str(data), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(summary) == KEYS
    assert summary["images"] == 12 and summary["plates"] == 12
    assert summary["read_top1"] >= 0.5 and summary["read_topn"] >= summary["read_top1"]
    assert summary["match_top1"] >= summary["read_top1"] and summary["match_topn"] >= summary["read_topn"]
    assert sum(summary["classes"].values()) == 12 and summary["classes"]["exact"] == round(12 * summary["read_top1"])
    assert 0 <= summary["detection_recall"] <= 1 and summary["ms_per_image_p95"] >= summary["ms_per_image_median"] > 0
    png = tmp_path / "conf.png"
    assert main(["eval", str(data), "--limit", "4", "--confusions", str(png)]) == 0
    out = capsys.readouterr().out
    assert "read_top1" in out and "right" in out and png.exists() and png.stat().st_size > 500
    assert "plates by class" in out and "exact" in out


def test_eval_refuses_a_folder_without_labels(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert main(["eval", str(tmp_path), "--crops"]) == 2


def test_eval_real_crops(capsys):
    crops = SHARED_DATASETS / "openalpr-benchmarks" / "seg_and_ocr"
    if not crops.is_dir():
        pytest.skip(f"real plate crops not present at {crops}")
    assert main(["eval", str(crops), "--crops", "--limit", "40", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["plates"] == 40 and summary["detection_recall"] is None
    # The plate-aware PP-OCRv4 reading gets about 94% of all 369 exactly (first 40: see the closing note)
    assert summary["read_top1"] >= 0.85 and summary["char_accuracy"] >= 0.95
    assert summary["calibration_error"] <= 0.15
    # the state of each crop (groundtruth.csv column 2) is read and scored too
    assert summary["state_plates"] == 40 and summary["state_top3"] >= summary["state_top1"] >= 0.6
    assert sum(summary["classes"].values()) == 40


def test_eval_held_out_crops_table_shows_classes_per_state(capsys, tmp_path):
    crops = SHARED_DATASETS / "openalpr-benchmarks" / "seg_and_ocr"
    if not crops.is_dir():
        pytest.skip(f"real plate crops not present at {crops}")
    png = tmp_path / "c.png"
    assert main(["eval", str(crops), "--crops", "--held-out", "--limit", "20", "--confusions", str(png)]) == 0
    out = capsys.readouterr().out
    assert "plates by class" in out and "states read right first, per true state" in out
    assert "state_top1" in out and png.with_name("c-states.png").exists()


def test_eval_states_on_held_out_specimens(capsys, tmp_path):
    specimens = SHARED_DATASETS / "us-plate-specimens"
    if not (specimens / "state.csv").is_file():
        pytest.skip(f"state specimens not present at {specimens}")
    assert main(["eval", str(specimens), "--states", "--held-out", "--limit", "80", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 80 and summary["held_out"] is True
    assert summary["state_top3"] >= summary["state_top1"] >= 0.75
    png = tmp_path / "s.png"
    assert main(["eval", str(specimens), "--states", "--held-out", "--limit", "40", "--confusions", str(png)]) == 0
    out = capsys.readouterr().out
    assert "state_top1" in out and "per true state" in out and png.with_name("s-states.png").exists()


def test_eval_states_refuses_a_folder_without_state_csv(tmp_path, capsys):
    assert main(["eval", str(tmp_path), "--states"]) == 2
    assert "state.csv not found" in capsys.readouterr().err


