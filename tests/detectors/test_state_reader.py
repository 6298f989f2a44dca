"""The state classifier: the bundled model and its card, reading real specimens, and plates that
carry their state through a reader. The training data's split and augmentation need no torch."""

import csv
import hashlib
import json
import random
import zlib

import cv2
import numpy as np
import pytest

from alpr.config import Config, SimulatorConfig
from alpr.dev.simulator.traffic import Simulator
from alpr.domain.states import STATES
from detectors.ppocr import PPOCRReader
from detectors.registry import make_reader
from detectors.state_reader import BUNDLED, INPUT_HW, StateClassifier, StateReader, WithStates, state_batch, text_bands
from detectors.training import state_data
from tests.conftest import SHARED_DATASETS

SPECIMENS = SHARED_DATASETS / "us-plate-specimens"


@pytest.fixture(scope="module")
def classifier() -> StateClassifier:
    return StateClassifier(BUNDLED)


def test_the_bundled_model_has_its_card_and_fits_the_limit():
    card = json.loads(BUNDLED.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(BUNDLED.read_bytes()).hexdigest()
    assert card["classes"] == list(STATES) and card["held_out"] and card["command"].startswith("alpr train state")
    assert BUNDLED.stat().st_size <= 20 * 1024 * 1024
    assert BUNDLED.with_suffix(".md").read_text().startswith("# State classifier")


def test_preprocessing_is_rgb_in_minus_one_to_one_at_the_model_size():
    crop = np.zeros((30, 90, 3), np.uint8)
    crop[:, :, 2] = 255  # pure red in BGR
    x = state_batch([crop, np.full((200, 400, 3), 255, np.uint8)])
    assert x.shape == (2, 3, *INPUT_HW) and x.dtype == np.float32
    assert x[0, 0].min() == 1.0 and x[0, 2].max() == -1.0 and x[1].min() == 1.0


def test_the_classifier_reads_held_out_specimens(classifier):
    if not (SPECIMENS / "state.csv").is_file():
        pytest.skip(f"state specimens not present at {SPECIMENS}")
    held = state_data.specimen_samples(SPECIMENS, "held_out")[::8]
    guesses = classifier([s.image for s in held])
    top1 = sum(g.state == STATES[s.state] for g, s in zip(guesses, held)) / len(held)
    assert len(held) >= 90 and top1 >= 0.8
    assert all(len(g.ranked) == 3 and 0 < g.confidence <= 1 and g.ranked[0][1] >= g.ranked[1][1] for g in guesses)


def test_a_state_named_on_the_plate_comes_first(classifier):
    plate = np.full((160, 320, 3), 235, np.uint8)
    cv2.putText(plate, "TEXAS", (95, 38), cv2.FONT_HERSHEY_DUPLEX, 1.3, (30, 30, 160), 2)
    cv2.putText(plate, "ABC 1234", (30, 110), cv2.FONT_HERSHEY_DUPLEX, 2.0, (20, 20, 20), 3)
    cv2.putText(plate, "THE LONE STAR STATE", (40, 150), cv2.FONT_HERSHEY_SIMPLEX, 0.75, (20, 20, 20), 2)
    ppocr = PPOCRReader(second_recognizer=None)
    assert "TEXAS" in ppocr.read_text(text_bands(plate))[0]
    reader = StateReader(classifier, ppocr.read_text)
    (guess,) = reader.read([plate])
    assert guess.state == "TX" and guess.confidence >= 0.97 and len(guess.ranked) == 3
    (blank,) = reader.read([np.full((160, 320, 3), 235, np.uint8)])  # no text: the classifier alone decides
    assert blank == classifier([np.full((160, 320, 3), 235, np.uint8)])[0]


def test_a_reader_with_states_gives_each_plate_its_state():
    cfg = Config()
    cfg.reader.engine = "yolo"
    reader = make_reader(cfg)
    assert isinstance(reader, WithStates) and reader.name == reader.reader.name
    frames = Simulator(SimulatorConfig(seed=4, width=1280, height=720, no_plate_ratio=0.0)).frames(realtime=False)
    result = reader.read(next(frames).image)
    assert result.plates and "state" in result.timings_ms
    assert all(p.state.state in STATES and len(p.state.ranked) == 3 for p in result.plates)
    empty = reader.read(np.full((720, 1280, 3), 90, np.uint8))
    assert empty.plates == [] and "state" not in empty.timings_ms  # nothing to classify


def test_reading_no_state_is_a_setting():
    cfg = Config()
    cfg.reader.engine = "yolo"
    cfg.reader.state_weights = "none"
    assert not isinstance(make_reader(cfg), WithStates)
    cfg.reader.state_weights = "/nonexistent/state.onnx"
    from alpr.config import ConfigError

    with pytest.raises(ConfigError, match="reader.state_weights: no such file"):
        make_reader(cfg)


def _folder(tmp_path, rows):
    with open(tmp_path / "state.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "state", "design"])
        for name, state, design, colour in rows:
            img = np.full((128, 256, 3), colour, np.uint8)
            if "missing" not in name:  # a picture of its own (the placeholders share one)
                blocks = np.random.default_rng(zlib.crc32(name.encode())).integers(0, 120, (8, 16, 3), np.uint8)
                img = cv2.add(img, cv2.resize(blocks, (256, 128), interpolation=cv2.INTER_NEAREST))
            cv2.imwrite(str(tmp_path / name), img)
            w.writerow([name, state, design])
    return tmp_path


def test_specimens_split_by_design_and_placeholders_are_left_out(tmp_path):
    rows = [(f"{s}_{i}.jpg", s, f"Design {i}", (i * 7 % 255, i * 13 % 255, k * 40)) for k, s in enumerate(["CO", "MT", "TX"])
            for i in range(30)]
    rows += [("CO_missing.jpg", "CO", "Missing", (250, 250, 250)), ("MT_missing.jpg", "MT", "Missing 2", (250, 250, 250)),
             ("XX_1.jpg", "XX", "Not a state", (1, 2, 3))]
    folder = _folder(tmp_path, rows)
    train, held, every = (state_data.specimen_samples(folder, s) for s in ("train", "held_out", "all"))
    names = lambda samples: {s.name for s in samples}  # noqa: E731
    assert names(train) | names(held) == names(every) and not names(train) & names(held)
    assert "CO_missing.jpg" not in names(every) and "XX_1.jpg" not in names(every)  # one picture for two states; no state
    assert {s.name for s in held} == {n for n, st, d, _ in rows[:90]
                                      if not state_data.in_training_share(state_data.design_key(st, d), 0.8)}
    assert 0.1 < len(held) / len(every) < 0.35


def test_augmentation_keeps_the_model_size_and_varies_the_picture():
    rng = random.Random(1)
    plate = cv2.putText(np.full((128, 256, 3), 230, np.uint8), "COLORADO", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 90, 0), 2)
    outs = [state_data.augment(plate, rng) for _ in range(20)]
    assert len({o.tobytes() for o in outs}) == 20
    x, y = state_data.batch([state_data.StateSample("a", plate, 5, False)] * 4, rng, train=True)
    assert x.shape == (4, 3, *INPUT_HW) and list(y) == [5] * 4


def test_training_writes_a_model_the_reader_loads(tmp_path):
    """`alpr train state` end to end, in its own process (torch stays out of this one)."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("onnx") is None:
        pytest.skip("the train extra is not installed (pip install -e '.[train]')")
    spec = tmp_path / "spec"
    spec.mkdir()
    folder = _folder(spec, [(f"{s}_{i}.jpg", s, f"Design {i}", colour)
                            for s, colour in (("CO", (0, 160, 0)), ("TX", (200, 200, 200))) for i in range(12)])
    out, checkpoint = tmp_path / "state.onnx", tmp_path / "ck.pt"
    done = subprocess.run([sys.executable, "-m", "alpr", "train", "state", "--specimens", str(folder), "--minutes", "0.15",
                           "--batch", "8", "--out", str(out), "--checkpoint", str(checkpoint)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["onnx"] == str(out) and 0 <= result["specimens_top1"] <= 1
    assert out.is_file() and out.with_suffix(".md").is_file() and checkpoint.is_file()
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["steps"] > 0 and card["command"].startswith("alpr train state")
    guess = StateClassifier(out)([np.full((60, 120, 3), (0, 160, 0), np.uint8)])[0]
    assert guess.state in STATES and len(guess.ranked) == 3


def test_the_text_look_is_a_setting_and_spent_only_on_plates_read_well():
    cfg = Config()
    cfg.reader.engine = "yolo"
    cfg.reader.state_text = False
    reader = make_reader(cfg)
    assert reader.states.text is None and reader.states.name == "state-cnn"
    cfg.reader.state_text = True
    reader = make_reader(cfg)
    assert reader.states.text is not None and reader.text_min_confidence == cfg.flow.pass_min_confidence
    from detectors.state_reader import CLASSIFIER_SURE

    unsure = (np.random.default_rng(seed).integers(0, 255, (160, 320, 3), np.uint8) for seed in range(20))
    plate = next(p for p in unsure if reader.states.classifier([p])[0].confidence < CLASSIFIER_SURE)  # noise
    read = []
    states = StateReader(reader.states.classifier, lambda crops: read.append(len(crops)) or ["TEXAS"] * len(crops))
    (skipped,) = states.read([plate], worth_text=[False])
    assert read == [] and skipped == reader.states.classifier([plate])[0]
    (named,) = states.read([plate], worth_text=[True])
    assert read == [1] and named.state == "TX"  # the top line named the state: the bottom one is not read
