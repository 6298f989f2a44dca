"""The PP-OCR reader on simulated frames and, when present, on real US plates."""

import os
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from alpr.config import SimulatorConfig
from alpr.dev.simulator.plates import STATES
from alpr.dev.simulator.render import FRAME_TEXTS
from alpr.dev.simulator.traffic import Simulator
from alpr.domain.plates import normalize
from detectors import ctc
from detectors.ppocr import line_shape_ok, plate_plausible

pytestmark = pytest.mark.integration


def test_reads_simulated_plates(reader):
    frames = Simulator(SimulatorConfig(seed=33, no_plate_ratio=0.0)).frames(
        realtime=False, start=datetime(2026, 11, 29, 9, tzinfo=timezone.utc))
    shown = read = 0
    reads: set[str] = set()
    det_scores: set[float] = set()
    for _ in range(30):
        f = next(frames)
        result = reader.read(f.image)
        plates = {p.plate for p in result.plates}
        shown += len(f.meta.true_plates)
        read += sum(p in plates for p in f.meta.true_plates)
        reads |= plates
        assert set(result.timings_ms) == {"detect", "crop", "ocr"}
        for p in result.plates:
            assert 0 < p.confidence <= 1 and p.box.w > p.box.h > 0 and len(p.corners) == 4
            assert 0.5 <= p.det_confidence <= 1  # the detector's box score (it drops boxes under 0.5)
            det_scores.add(round(p.det_confidence, 3))
    assert shown >= 25
    assert read / shown >= 0.6
    assert len(det_scores) > 5
    # State names, slogans, dealer frames and the camera clock are never taken for plates.
    # (Street signs with a number, such as "5TH ST", still are: a text line is not told from a plate.)
    words = {normalize(w) for s in STATES for w in (s.name, s.slogan)} | {normalize(t) for t in FRAME_TEXTS}
    assert not reads & words
    assert not any(len(p) > 8 or p.startswith("2026") for p in reads)


def test_reads_real_us_plates(reader, openalpr_us):
    labels = sorted(openalpr_us.glob("*.txt"))[:30]
    hits = 0
    for txt in labels:
        name, x, y, w, h, plate = txt.read_text().splitlines()[0].split("\t")
        result = reader.read(cv2.imread(str(openalpr_us / name)))
        hits += plate.strip() in {p.plate for p in result.plates}
    # The plate-aware reading gets 23 of these 30 exactly (20 without the second recognizer; PP-OCRv4's
    # own decoding: about 60%).
    assert hits / len(labels) >= 0.7


def test_a_crop_too_small_to_read_gives_no_readings(reader):
    assert reader.recognize(np.zeros((3, 40, 3), np.uint8)) == []


def test_second_looks_keep_the_most_confident_recognizer(reader):
    """Each line keeps the more confident of the two recognizers' decodings, and a wrong-sized
    character list is refused rather than decoded into the wrong letters."""
    from detectors import recognizers

    assert [r.name for r in reader.recognizers] == ["ppocr-v4", "ppocr-v6-small"]
    frames = Simulator(SimulatorConfig(seed=5, no_plate_ratio=0.0)).frames(
        realtime=False, start=datetime(2026, 11, 29, 9, tzinfo=timezone.utc))
    crops = []
    while len(crops) < 8:
        image = next(frames).image
        crops += reader._cut(image, [q for q in reader._detect(image)[0] if line_shape_ok(q)])
    both = reader._recognize(crops, reader.recognizers)
    alone = [reader._recognize(crops, [r]) for r in reader.recognizers]
    confidence = ctc.confidence
    assert [confidence(c) for c in both] == [max(confidence(a[i]) for a in alone) for i in range(len(crops))]
    assert any(ctc.text(c) for c in both)
    v6 = reader.recognizers[1]
    with pytest.raises(ValueError, match="classes but its character list names"):
        recognizers.from_model("short list", v6.model, ["blank", "A", "B"])


def plate_face(*rows: str, size: tuple[int, int] = (280, 200)) -> np.ndarray:
    """A plain plate face with one or two rows of characters, BGR."""
    from PIL import Image, ImageDraw

    from alpr.dev.simulator.render import font

    w, h = size
    img = Image.new("RGB", size, (240, 240, 240))
    draw = ImageDraw.Draw(img)
    draw.rectangle((2, 2, w - 3, h - 3), outline=(20, 20, 20), width=3)
    for i, text in enumerate(rows):
        draw.text((w / 2, h * (i + 0.5) / len(rows)), text, font=font(84), fill=(20, 20, 20), anchor="mm")
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def test_two_row_plates_are_read_top_row_first(reader):
    for top, bottom in (("AB12", "CDE"), ("7X", "4521")):
        frame = np.full((720, 1280, 3), 90, np.uint8)
        frame[400:500, 600:740] = cv2.resize(plate_face(top, bottom), (140, 100), interpolation=cv2.INTER_AREA)
        plates = reader.read(frame).plates
        assert [p.plate for p in plates] == [top + bottom]
        box = plates[0].box
        assert 600 <= box.x and box.x + box.w <= 740 and 400 <= box.y and box.y + box.h <= 500 and box.h > 70
        # A tight crop of it (as the YOLO reader cuts one) is read row by row as well.
        assert reader.recognize(plate_face(top, bottom))[0][0] == top + bottom


def test_small_characters_beside_the_serial_are_not_read(reader):
    """Stacked letters before the serial (Massachusetts' RT), or small ones after it (New Jersey's
    59), are not part of the plate: the serial is the reading, the whole line at most a candidate."""
    from PIL import Image, ImageDraw

    from alpr.dev.simulator.render import font

    for serial, small, stacked in (("72LY", "RT", True), ("10DTM", "59", False)):
        img = Image.new("RGB", (400, 160), (240, 240, 240))
        draw = ImageDraw.Draw(img)
        x = (400 - draw.textlength(serial, font=font(80))) / 2
        draw.text((x, 80), serial, font=font(80), fill=(20, 20, 120), anchor="lm")
        if stacked:
            for i, ch in enumerate(small):
                draw.text((x - 22, 60 + 40 * i), ch, font=font(36), fill=(20, 20, 120), anchor="mm")
        else:
            draw.text((x + draw.textlength(serial, font=font(80)) + 8, 90), small, font=font(36), fill=(20, 20, 120), anchor="lm")
        readings = reader.recognize(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR))
        assert readings[0][0] == serial
        assert all(conf <= readings[0][1] for _, conf in readings)


def test_a_plates_band_is_judged_by_its_reading_and_a_line_in_the_frame_as_read(reader):
    """KOABCP holds no digit as read, but on a US plate its O is 0: a plate found by the detector
    is read as K0ABCP, while the same text as a line anywhere in the frame is a word (COLLINS on a
    bus, LOGAN on a dealer frame) and is not reported."""
    face = plate_face("KOABCP", size=(440, 150))
    assert reader.recognize(face, plate_plausible)[0][0] == "K0ABCP"
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[300:450, 400:840] = face
    assert reader.read(frame).plates == []
    frame[300:450, 400:840] = plate_face("K4ABCP", size=(440, 150))  # with a digit it is one
    assert [p.plate for p in reader.read(frame).plates] == ["K4ABCP"]


def test_the_regions_plate_format_decides_o_and_zero():
    """US default: O is read as 0. With Brazil's layouts the letter slots keep O, the digit slots 0."""
    from alpr import config
    from detectors.registry import make_reader

    face = plate_face("OKM2071", size=(440, 150))
    plates_only = {"ALPR_READER__STATE_WEIGHTS": "none"}  # the plate reader itself, without the state reader around it
    us = make_reader(config.load(environ=plates_only))
    assert us.recognize(face)[0][0] == "0KM2071"
    brazil = make_reader(config.load(environ={**plates_only, "ALPR_READER__O_IS_ZERO": "false",
                                              "ALPR_READER__PLATE_LAYOUTS": "LLL####"}))
    assert brazil.recognize(face)[0][0] == "OKM2071"
    # Among a line's looks a reading that fits a layout wins over a surer one that does not (a
    # character dropped or added); without layouts the surer one wins.
    fits, dropped = ([ctc.Char(c, p, (), i, i) for i, c in enumerate(text)] for text, p in (("BWO4061", 0.9), ("BWO406", 0.99)))
    assert brazil.thorough._rank(fits) > brazil.thorough._rank(dropped)
    assert us.thorough._rank(fits) < us.thorough._rank(dropped)


def test_runtimes_read_alike(reader):
    """OpenVINO held to float32 and ONNX Runtime run the same ONNX files to the same readings, and
    the PP-OCRv4 character list taken from the model's metadata is the one rapidocr decodes with.
    (By default OpenVINO picks the precision: bfloat16 on cores with AMX, whose confidences differ.)"""
    from detectors.ppocr import PPOCRReader

    fold = ctc.fold_classes(reader.engine.text_rec.postprocess_op.character)
    assert np.array_equal(reader.recognizers[0].fold.classes, fold.classes)
    assert np.array_equal(reader.recognizers[0].fold.matrix, fold.matrix)
    assert reader.precision in ("bf16", "f32")
    threads = os.cpu_count() or 1
    reader = PPOCRReader(reader.det_max_side, reader.min_confidence, threads=threads, runtime="openvino-f32")
    other = PPOCRReader(reader.det_max_side, reader.min_confidence, threads=threads, runtime="onnxruntime")
    assert (reader.precision, other.precision) == ("f32", "f32")
    frames = Simulator(SimulatorConfig(seed=8, no_plate_ratio=0.0)).frames(
        realtime=False, start=datetime(2026, 11, 29, 9, tzinfo=timezone.utc))
    seen = 0
    for _ in range(4):
        image = next(frames).image
        a, b = reader.read(image).plates, other.read(image).plates
        assert [(p.plate, p.box) for p in a] == [(p.plate, p.box) for p in b]
        assert [p.confidence for p in a] == pytest.approx([p.confidence for p in b], abs=1e-3)
        seen += len(a)
    assert seen


def test_worker_threads_can_share_a_reader(reader):
    """Bytewax workers of one process are threads sharing the flow's reader, with cameras of
    different resolutions."""
    from concurrent.futures import ThreadPoolExecutor

    frames = Simulator(SimulatorConfig(seed=9, no_plate_ratio=0.0)).frames(
        realtime=False, start=datetime(2026, 11, 29, 9, tzinfo=timezone.utc))
    images = [next(frames).image for _ in range(6)]
    images[1::2] = [cv2.resize(image, (900, 506)) for image in images[1::2]]
    alone = [[(p.plate, p.box) for p in reader.read(image).plates] for image in images]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda image: [(p.plate, p.box) for p in reader.read(image).plates], images))
    assert together == alone and any(alone)


def test_second_looks_go_only_to_the_lines_named(reader, monkeypatch):
    """A plate crop's whole band beside its serial only adds candidates, so it gets no second looks."""
    from detectors.ppocr import LINE_VIEWS, rect

    batches: list[int] = []
    recognize = reader._recognize
    monkeypatch.setattr(reader, "_recognize", lambda crops, models: batches.append(len(crops)) or recognize(crops, models))
    noise = np.random.default_rng(0).integers(0, 255, (60, 200, 3), np.uint8)  # never read surely
    lines = [rect(0, 10, 200, 50), rect(20, 5, 180, 55)]
    reader._read_lines(noise, lines, plausible=None)
    assert batches == [2] * (1 + len(LINE_VIEWS))
    batches.clear()
    reader._read_lines(noise, lines, plausible=None, looked=[0])
    assert batches == [2] + [1] * len(LINE_VIEWS)


def test_the_other_looks_readings_are_candidates_after_the_readings_own(reader):
    """A look that lost can still hold the plate (a character the winner dropped): its reading is a
    candidate for hot lists and search, after the winner's runner-ups and never surer than the winner."""
    def chars(text, p):
        return [ctc.Char(c, p, (), i, i) for i, c in enumerate(text)]

    best, dropped_l, surer = chars("YF26G", 0.93), chars("YF2L6G", 0.86), chars("YF2L6C", 0.99)
    readings = reader._plate_readings(best, None, [dropped_l, surer])
    assert readings[0] == ("YF26G", pytest.approx(0.93 ** 5))
    others = dict(readings[1:])
    assert others["YF2L6G"] == pytest.approx(0.86 ** 6) and others["YF2L6C"] == pytest.approx(0.93 ** 5)
    assert reader._plate_readings(best, None) == [("YF26G", pytest.approx(0.93 ** 5))]
