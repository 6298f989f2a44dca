"""The recognizer's training data: which files are trained on, how crops are cut, augmented and fed
to the model, and how readings are scored. No torch and no datasets: small synthetic folders."""

import random
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rapidocr_onnxruntime.ch_ppocr_rec.text_recognize import TextRecognizer

from alpr.domain.scoring import corpus_scores
from alpr.domain.types import Box
from detectors.ppocr import CHAR_BAND, grow, plate_box
from detectors.splits import in_training_share
from detectors.training import recognizer_data as rdata
from detectors.training import recognizer_model as rmodel


def _plate(text: str, w: int = 120, h: int = 60) -> np.ndarray:
    img = np.full((h, w, 3), 230, np.uint8)
    cv2.putText(img, text, (5, int(h * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (20, 20, 20), 2)
    return img


def test_module_needs_no_torch():
    assert "torch" not in sys.modules and "onnx2torch" not in sys.modules


def test_labels_keep_plate_characters_only():
    assert rdata.clean_label("abc-12 3") == "ABC123"
    assert rdata.clean_label(" 7·ÖX·") == "7X"
    assert rdata.clean_label("--") == ""


def test_validation_split_is_a_second_hash_of_the_scene():
    names = [f"car{i}" for i in range(400)]
    val = [n for n in names if rdata.is_validation(n)]
    assert val == [n for n in names if in_training_share("val/" + n, rdata.VAL_SHARE)]
    assert 0.1 < len(val) / len(names) < 0.3
    for n in names[:50]:  # every plate and line of a scene falls on the same side
        assert rdata.is_validation(f"{n}#0") == rdata.is_validation(f"{n}#3@line") == rdata.is_validation(n)
    samples = [rdata.Sample(n, np.zeros((2, 2, 3), np.uint8), (0, 0, 2, 2), (0, 1), "A") for n in names]
    train, held = rdata.split(samples)
    assert [s.name for s in held] == val and len(train) + len(held) == len(names)


def test_seg_and_ocr_samples_read_only_the_training_share(tmp_path):
    (tmp_path / "usimages").mkdir()
    rows = []
    for i in range(30):
        name = f"st{i}.png"
        cv2.imwrite(str(tmp_path / "usimages" / name), _plate(f"AB{i}", w=100 + i))
        rows.append(f"{name},st,ab-{i}")
    rows.append("missing.png,st,XYZ1")  # unreadable image
    rows.append("st0.png,st,--")  # no plate characters
    (tmp_path / "groundtruth.csv").write_text("\n".join(rows) + "\n")

    samples = rdata.seg_and_ocr_samples(tmp_path, 0.5)
    expected = [f"st{i}.png" for i in range(30) if in_training_share(f"st{i}.png", 0.5)]
    assert [s.name for s in samples] == expected and 0 < len(expected) < 30
    for s in samples:
        i = int(s.name[2:-4])
        assert s.label == f"AB{i}" and s.band == CHAR_BAND
        assert s.box == (0.0, 0.0, 100.0 + i, 60.0) and s.image.shape == (60, 100 + i, 3)
    assert rdata.seg_and_ocr_samples(tmp_path, 1.0)[-1].name == "st29.png"  # the empty label row is skipped
    assert len(rdata.seg_and_ocr_samples(tmp_path, 1.0)) == 30


def test_labelled_crops_use_their_own_band(tmp_path):
    (tmp_path / "labels.csv").write_text("file,plate\nbr-0.jpg,abc1234\nbr-1.jpg,XYZ9876\nbr-2.jpg,QQQ0000\n")
    for i in range(2):  # br-2.jpg is missing
        cv2.imwrite(str(tmp_path / f"br-{i}.jpg"), _plate("ABC1234", w=150, h=50))
    samples = rdata.labelled_crops_samples(tmp_path)
    assert [(s.name, s.label, s.band, s.box) for s in samples] == [
        ("br-0.jpg", "ABC1234", rdata.EXTRA_BAND, (0.0, 0.0, 150.0, 50.0)),
        ("br-1.jpg", "XYZ9876", rdata.EXTRA_BAND, (0.0, 0.0, 150.0, 50.0)),
    ]
    sources = rdata.build_samples(None, None, tmp_path, 0.5)
    assert list(sources) == ["extra"] and len(sources["extra"]) == 2


def test_endtoend_samples_cut_the_scene_around_the_truth_box(tmp_path):
    rng = np.random.default_rng(0)
    stems = [f"scene{i}" for i in range(12)]
    for stem in stems:
        scene = rng.integers(0, 255, (240, 320, 3), np.uint8)
        cv2.imwrite(str(tmp_path / f"{stem}.png"), scene)  # lossless, so pixels can be compared
        (tmp_path / f"{stem}.png").rename(tmp_path / f"{stem}.jpg")
        (tmp_path / f"{stem}.txt").write_text(f"{stem}.jpg\t10\t20\t80\t40\tab 123\n{stem}.jpg\t200\t180\t100\t50\tXY-9\n")
    samples = rdata.endtoend_samples(tmp_path, 0.5)
    trained = [s for s in stems if in_training_share(s, 0.5)]
    assert [s.name for s in samples] == [f"{s}#{k}" for s in trained for k in (0, 1)]
    for s in samples:
        scene = cv2.imread(str(tmp_path / f"{rdata.scene_of(s.name)}.jpg"))
        x, y, w, h, label = (10, 20, 80, 40, "AB123") if s.name.endswith("#0") else (200, 180, 100, 50, "XY9")
        x0, y0, x1, y1 = (int(v) for v in s.box)
        assert s.label == label and (x1 - x0, y1 - y0) == (w, h)
        assert np.array_equal(s.image[y0:y1, x0:x1], scene[y:y + h, x:x + w])
        # room around the box for jitter, where the scene has it
        assert x0 > 0 and y0 > 0 and s.image.shape[1] - x1 >= min(int(0.3 * w) + 2, 320 - x - w)


def test_synthetic_plates_are_labelled_faces_with_a_bumper_around_them():
    samples = rdata.synthetic_samples(12, seed=4)
    assert len(samples) == 12 and len({s.label for s in samples}) == 12
    assert [s.label for s in rdata.synthetic_samples(12, seed=4)] == [s.label for s in samples]  # reproducible
    assert [s.label for s in rdata.synthetic_samples(12, seed=5)] != [s.label for s in samples]
    for s in samples:
        assert s.label == rdata.clean_label(s.label) and 5 <= len(s.label) <= 8 and s.band == CHAR_BAND
        x0, y0, x1, y1 = s.box
        assert 0 < x0 < x1 < s.image.shape[1] and 0 < y0 < y1 < s.image.shape[0]
        # The bumper around the face is one colour; the face has the characters' ink in its band.
        assert len(np.unique(s.image[0].reshape(-1, 3), axis=0)) == 1
        band = rdata.band_crop(s.image, s.box, s.band)
        assert band.std() > 30


def test_band_crop_takes_the_character_rows():
    img = np.arange(100 * 200).reshape(100, 200, 1).repeat(3, 2).astype(np.int32)
    crop = rdata.band_crop(img, (0.0, 0.0, 200.0, 100.0), CHAR_BAND)
    assert crop.shape == (65, 200, 3) and crop[0, 0, 0] == img[20, 0, 0]
    crop = rdata.band_crop(img, (50.0, 10.0, 150.0, 60.0), (0.2, 0.8))
    assert crop.shape == (30, 100, 3) and crop[0, 0, 0] == img[20, 50, 0]


def test_augment_gives_a_jittered_uint8_band():
    img = _plate("AB123", w=200, h=100)
    box, band = (20.0, 10.0, 180.0, 90.0), (0.2, 0.85)
    outs = [rdata.augment(img, box, band, random.Random(s)) for s in range(40)]
    for out in outs:
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
        assert 4 <= out.shape[0] <= 0.65 * 80 + 0.16 * 80 + 1 and 4 <= out.shape[1] <= 1.1 * 160 + 1
    assert len({o.shape for o in outs}) > 5  # jitter and rescaling vary the size
    again = rdata.augment(img, box, band, random.Random(3))
    assert np.array_equal(again, outs[3])  # reproducible from the seed


def test_rec_batch_matches_what_the_reader_feeds_the_recognizer():
    crops = [_plate("AB1", w=90, h=30), _plate("XYZ123", w=400, h=40), _plate("Q", w=20, h=30)]
    rec = SimpleNamespace(rec_image_shape=[3, 48, 320])
    for batch in (crops[:1], crops):
        x = rdata.rec_batch(batch)
        ratio = max(320 / 48, max(c.shape[1] / c.shape[0] for c in batch))
        ref = np.stack([TextRecognizer.resize_norm_img(rec, c, ratio) for c in batch])
        assert x.dtype == np.float32 and x.shape == ref.shape and np.allclose(x, ref)
    assert rdata.rec_batch(crops[:1]).shape == (1, 3, 48, 320)
    assert rdata.rec_batch(crops).shape == (3, 3, 48, 480)  # a 10:1 line widens the batch
    assert rdata.rec_batch(crops, 320).shape == (3, 3, 48, 320)
    assert rdata.rec_batch(crops[:1])[0, :, :, 150:].max() == 0  # padding on the right


def test_lines_match_truth_boxes_by_their_plate_box():
    w, h = 640, 480
    line = np.array([[100, 200], [220, 200], [220, 240], [100, 240]], np.float32)  # a 3:1 character line
    other = np.array([[400, 50], [520, 50], [520, 90], [400, 90]], np.float32)
    pb = plate_box(line, w, h)
    truth = [Box(pb.x + 3, pb.y - 2, pb.w, pb.h), Box(300, 400, 60, 30)]
    matched = rdata.match_lines([other, line], truth, w, h)
    assert len(matched) == 1 and matched[0][0] == 0 and np.array_equal(matched[0][1], line)
    assert rdata.match_lines([], truth, w, h) == []


def test_a_line_cut_with_margin_knows_where_the_line_is():
    line = np.array([[100, 200], [220, 210], [218, 250], [98, 240]], np.float32)  # tilted
    wide = rdata.widen(line, 0.1, 0.1)
    assert np.allclose(wide[1] - wide[0], 1.2 * (line[1] - line[0]))
    assert np.allclose((wide[0] + wide[1]) / 2, (line[0] + line[1]) / 2)
    grown = grow(wide, 0.2, 0.2)
    assert np.allclose(grown[3] - grown[0], 1.4 * (line[3] - line[0]), atol=1e-4)
    x0, y0, x1, y1 = rdata.inner_box(140, 70, (0.1, 0.2))  # the cut of ``grown`` is 1.2 x 1.4 the line
    assert (x0, x1) == pytest.approx((140 * 0.1 / 1.2, 140 * 1.1 / 1.2))
    assert (y0, y1) == pytest.approx((70 * 0.2 / 1.4, 70 * 1.2 / 1.4))


def test_greedy_decoding_and_scores():
    t = np.zeros((7, 37), np.float32)
    for frame, cls in enumerate([0, 11, 11, 0, 11, 1, 0]):  # A, A (after a blank), 0
        t[frame, cls] = 1.0
    assert rmodel.greedy(t[None]) == ["AA0"]
    assert rmodel.greedy([t, t[:3]]) == ["AA0", "A"]  # batches of different widths give different T
    s = corpus_scores(["AB0", "XY1", "Q"], ["ABO", "XY7", "QQ"], rmodel.fold_o)  # O and 0 count as the same
    assert s["n"] == 3 and s["exact"] == pytest.approx(1 / 3)
    assert s["char_acc"] == pytest.approx(1 - 2 / 8)
    assert corpus_scores([], [])["exact"] == 0.0
