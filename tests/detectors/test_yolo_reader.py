"""The trained plate detector (bundled ONNX weights) with PP-OCR recognition on its crops."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from alpr.app.cli import main
from alpr.config import Config, ConfigError, SimulatorConfig
from alpr.dev.simulator.dataset import box_of, write_dataset
from alpr.dev.simulator.traffic import Simulator
from alpr.domain.scoring import iou
from alpr.domain.types import Box
from detectors.registry import make_reader
from detectors.yolo import BUNDLED, YoloDetector, onnx_weights

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def yolo_reader():
    cfg = Config()
    cfg.reader.engine = "yolo"
    cfg.reader.state_weights = "none"  # the plate reader alone (tests/detectors/test_state_reader.py: with states)
    return make_reader(cfg)


def test_the_bundled_model_has_its_card():
    card = json.loads(BUNDLED.with_suffix(".json").read_text())
    import hashlib

    assert card["sha256"] == hashlib.sha256(BUNDLED.read_bytes()).hexdigest()
    assert tuple(card["input"]) == YoloDetector(BUNDLED).size
    assert card["held_out"] and card["data"]["train_images"] > 0


def test_finds_and_reads_simulated_plates(yolo_reader):
    frames = Simulator(SimulatorConfig(seed=21, width=1280, height=720, no_plate_ratio=0.0)).frames(realtime=False)
    found = read = total = 0
    for _ in range(10):
        f = next(frames)
        result = yolo_reader.read(f.image)
        assert set(result.timings_ms) == {"detect", "crop", "ocr"}
        h, w = f.image.shape[:2]
        for plate, quad in f.plates:
            total += 1
            truth = Box(*box_of(quad, w, h))
            hits = [p for p in result.plates if iou(p.box, truth) >= 0.5]
            found += bool(hits)
            read += any(p.plate == plate for p in hits)
    assert total >= 10
    assert found / total >= 0.9 and read / total >= 0.6


def test_a_frame_without_plates_gives_no_reads(yolo_reader):
    assert yolo_reader.read(np.full((720, 1280, 3), 90, np.uint8)).plates == []


def test_eval_names_the_detector(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALPR_DATA_DIR", str(tmp_path))
    write_dataset(Simulator(SimulatorConfig(seed=5, no_plate_ratio=0.0)).frames(realtime=False), tmp_path / "sim", 4)
    assert main(["eval", str(tmp_path / "sim"), "--detector", "yolo", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["detector"], summary["ocr"], summary["runtime"], summary["images"]) == (
        "yolov8n-plate", "ppocr-v4+ppocr-v6-small", "openvino", 4)
    assert summary["precision"] in ("bf16", "f32")


def test_bad_weights_are_refused_with_the_reason(tmp_path):
    cfg = Config()
    cfg.reader.engine = "yolo"
    cfg.reader.detector_weights = str(tmp_path / "missing.onnx")
    with pytest.raises(ConfigError, match="no such file"):
        make_reader(cfg)
    with pytest.raises(ValueError, match=".onnx or .pt"):
        onnx_weights(Path("weights.bin"))


def test_bad_recognizer_weights_are_refused_with_the_reason(tmp_path):
    from detectors.ppocr import PPOCRReader

    cfg = Config()
    cfg.reader.recognizer_weights = str(tmp_path / "missing.onnx")
    with pytest.raises(ConfigError, match="reader.recognizer_weights: no such file"):
        make_reader(cfg)
    # A model that does not name its characters (here: the plate detector) cannot be decoded.
    with pytest.raises(ValueError, match="'character' metadata"):
        PPOCRReader(recognizer=BUNDLED)
    cfg = Config()
    cfg.reader.second_recognizer = "ppocr-v9"
    with pytest.raises(ConfigError, match="reader.second_recognizer: 'ppocr-v9' is neither a file nor one of ppocr-v6-small"):
        make_reader(cfg)
    with pytest.raises(ValueError, match="'character' metadata"):
        PPOCRReader(second_recognizer=BUNDLED)


def test_cascade_reads_again_with_ppocr_only_where_the_fast_reader_is_unsure(yolo_reader):
    from detectors.cascade import CascadeReader, shifted, window

    frames = Simulator(SimulatorConfig(seed=8, width=1280, height=720, no_plate_ratio=0.0)).frames(realtime=False)
    image = next(frames).image
    fast = yolo_reader.read(image)
    assert fast.plates
    sure = CascadeReader(yolo_reader, accept=0.0).read(image)  # any fast reading is enough
    assert [p.plate for p in sure.plates] == [p.plate for p in fast.plates]

    # No fast reading is enough: PP-OCR reads again a window around each plate found.
    unsure = CascadeReader(yolo_reader, accept=1.0).read(image)
    h, w = image.shape[:2]
    thorough = []
    for plate in fast.plates:
        win = window(plate.box, w, h)
        thorough += [shifted(p, win.x, win.y) for p in yolo_reader.recognizer.read(image[win.y:win.y + win.h, win.x:win.x + win.w]).plates]
    assert thorough and unsure.timings_ms["detect"] > fast.timings_ms["detect"]
    for plate in fast.plates + thorough:  # one reading per place, the more confident one, in frame pixels
        overlapping = [p for p in unsure.plates if iou(p.box, plate.box) >= 0.3]
        assert len(overlapping) == 1 and overlapping[0].confidence >= plate.confidence


def test_cascade_reads_the_whole_frame_where_the_fast_reader_finds_no_plate(yolo_reader, monkeypatch):
    from detectors.cascade import CascadeReader

    image = next(Simulator(SimulatorConfig(seed=8, width=1280, height=720, no_plate_ratio=0.0)).frames(realtime=False)).image
    monkeypatch.setattr(yolo_reader.detector, "threshold", 1.01)  # the plate detector finds nothing
    assert not yolo_reader.read(image).plates
    whole = yolo_reader.recognizer.read(image)
    assert whole.plates
    assert [p.plate for p in CascadeReader(yolo_reader, accept=0.9).read(image).plates] == [p.plate for p in whole.plates]


def test_a_vanity_plate_is_read_where_the_detector_is_sure_of_the_plate(yolo_reader, monkeypatch):
    """An all-letter plate cannot be told from a slogan by its text: it is read only in a box the
    detector scores at least reader.vanity_score."""
    import random

    from alpr.dev.simulator.plates import STATES, PlateSpec
    from alpr.dev.simulator.render import Conditions, compose, render_background, render_plate, render_vehicle

    assert yolo_reader.vanity_score == Config().reader.vanity_score
    rng = random.Random(3)
    plate = render_plate(PlateSpec(STATES[0], "BATMAN"), rng)
    scene, quad = compose(render_background(1280, 720, rng), render_vehicle(plate, rng), (640, 420), 520, 0.0,
                          Conditions(night=False, blur_px=0, noise_sigma=2.0, occlusion=0.0), rng)
    truth = Box(*box_of(quad, 1280, 720))
    assert yolo_reader.detector(scene)[1].max() < 1.0
    monkeypatch.setattr(yolo_reader, "vanity_score", 0.0)
    assert [p.plate for p in yolo_reader.read(scene).plates if iou(p.box, truth) >= 0.5] == ["BATMAN"]
    monkeypatch.setattr(yolo_reader, "vanity_score", 1.0)
    assert yolo_reader.read(scene).plates == []


def test_cascade_looks_again_at_a_weak_plate_beside_a_sure_one(yolo_reader, monkeypatch):
    """Two cars in one frame: a sure reading of one must not spare the other its second look."""
    from detectors.cascade import CascadeReader

    frames = Simulator(SimulatorConfig(seed=8, width=1280, height=720, no_plate_ratio=0.0)).frames(realtime=False)
    tiles = [cv2.resize(next(frames).image, (640, 360)) for _ in range(2)]
    image = np.full((720, 1280, 3), 90, np.uint8)
    image[:360, :640], image[360:, 640:] = tiles
    fast = yolo_reader.read(image)
    assert len(fast.plates) == 2
    weak, sure = sorted(fast.plates, key=lambda p: p.confidence)
    assert weak.confidence < sure.confidence
    looked = []
    read_window = yolo_reader.recognizer.read
    monkeypatch.setattr(yolo_reader.recognizer, "read", lambda img, focus=None: looked.append(focus) or read_window(img, focus))
    both = CascadeReader(yolo_reader, accept=(weak.confidence + sure.confidence) / 2).read(image)
    assert len(looked) == 1  # PP-OCR looked again around the weak plate only
    assert any(p.plate == sure.plate and p.confidence == sure.confidence for p in both.plates)
    looked.clear()
    CascadeReader(yolo_reader, accept=weak.confidence).read(image)
    assert looked == []  # both sure: no second look


def test_cascade_spares_an_empty_road_the_whole_frame_look_but_not_a_close_up_plate(yolo_reader, monkeypatch):
    import random

    from alpr.dev.simulator.plates import random_plate
    from alpr.dev.simulator.render import render_plate
    from alpr.domain.plates import normalize
    from detectors.cascade import CascadeReader

    looked = []
    read_whole = yolo_reader.recognizer.read
    monkeypatch.setattr(yolo_reader.recognizer, "read", lambda img, focus=None: looked.append(img.shape) or read_whole(img, focus))
    cascade = CascadeReader(yolo_reader, accept=0.9)
    road = np.linspace(40, 120, 720 * 1280 * 3).reshape(720, 1280, 3).astype(np.uint8)
    assert cascade.read(road).plates == [] and looked == []  # nothing near a plate: no whole-frame look
    assert CascadeReader(yolo_reader, accept=0.9, gate_side=0).read(road).plates == [] and looked == [(720, 1280, 3)]

    looked.clear()
    rng = random.Random(3)
    spec = random_plate(rng)
    close_up = road.copy()
    close_up[160:480, 320:960] = cv2.resize(render_plate(spec, rng), (640, 320))  # half the frame wide
    result = cascade.read(close_up)
    assert looked == [(720, 1280, 3)]  # too large for the plate detector, found by the small text look
    assert [p.plate for p in result.plates] == [normalize(spec.printed)]


def test_cascade_looks_where_the_detector_nearly_saw_a_plate_beside_a_sure_one(yolo_reader, monkeypatch):
    """A plate scored below the detector's threshold, beside one it kept, is looked for again."""
    from detectors.cascade import CascadeReader

    frames = Simulator(SimulatorConfig(seed=8, width=1280, height=720, no_plate_ratio=0.0)).frames(realtime=False)
    tiles = [cv2.resize(next(frames).image, (640, 360)) for _ in range(2)]
    image = np.full((720, 1280, 3), 90, np.uint8)
    image[:360, :640], image[360:, 640:] = tiles
    low, high = sorted(yolo_reader.read(image).plates, key=lambda p: p.det_confidence)
    assert low.det_confidence > 0.1
    monkeypatch.setattr(yolo_reader.detector, "threshold", (low.det_confidence + high.det_confidence) / 2)
    monkeypatch.setattr(yolo_reader, "near_score", 0.1)
    fast = yolo_reader.read(image)
    assert [p.plate for p in fast.plates] == [high.plate]
    assert len(fast.unread) == 1 and iou(fast.unread[0], low.box) > 0.9  # reported, not read
    looked = []
    read_window = yolo_reader.recognizer.read
    monkeypatch.setattr(yolo_reader.recognizer, "read", lambda img, focus=None: looked.append(focus) or read_window(img, focus))
    found = CascadeReader(yolo_reader, accept=0.0).read(image)  # the kept plate is sure at any reading
    assert len(looked) == 1 and low.plate in [p.plate for p in found.plates]
