"""Plate-alphabet CTC decoding and the geometry of plate candidates: pure logic, no models."""

import numpy as np
import pytest

from detectors import ctc
from detectors.ppocr import grow, joined_fragments, plate_box, plate_plausible, rect, stacked_rows, text_plausible

# A toy recognizer vocabulary: blank, a dash, lower and upper case letters, digits and a look-alike.
SYMBOLS = ["blank", "-", "a", "A", "B", "8", "0", "O", "7", "丁"]
FOLD = ctc.fold_classes(SYMBOLS)


def frames(*rows: dict[str, float]) -> np.ndarray:
    """A (frames x symbols) probability matrix; unspecified mass goes to blank."""
    out = np.zeros((len(rows), len(SYMBOLS)), np.float32)
    for t, row in enumerate(rows):
        for s, p in row.items():
            out[t, SYMBOLS.index(s)] = p
        out[t, 0] += 1 - out[t].sum()
    return out


def test_fold_maps_case_and_drops_everything_else():
    probs = np.random.default_rng(0).dirichlet(np.ones(len(SYMBOLS)), size=5).astype(np.float32)
    full = np.zeros((len(SYMBOLS), 37), np.float32)  # the fold written out as a 0/1 matrix
    for i, s in enumerate(SYMBOLS):
        full[i, 1 + ctc.PLATE_ALPHABET.index(s.upper()) if s in "aAB80O7" else 0] = 1
    np.testing.assert_allclose(FOLD(probs), probs @ full, atol=1e-6)
    col = {s: int(FOLD(frames({s: 1.0}))[0].argmax()) for s in SYMBOLS}
    assert col["a"] == col["A"] == 1 + ctc.PLATE_ALPHABET.index("A")
    assert col["blank"] == col["-"] == col["丁"] == 0


def test_decode_collapses_repeats_and_skips_separators():
    probs = frames({"A": 0.9}, {"A": 0.8}, {"-": 0.9}, {"8": 0.6, "B": 0.3}, {}, {"8": 0.95}, {"7": 0.99})
    chars = ctc.decode(probs, FOLD)
    assert ctc.text(chars) == "A887"
    assert chars[0].prob == pytest.approx(0.9)  # the peak frame of the run
    assert chars[1].alternatives[0] == ("B", pytest.approx(0.3))
    assert ctc.confidence(chars) == pytest.approx(0.9 * 0.6 * 0.95 * 0.99, rel=1e-5)


def test_lower_case_and_look_alikes_fold_onto_the_plate_alphabet():
    # "a" and "A" split the mass; together they beat the blank. The look-alike is not a character.
    chars = ctc.decode(frames({"a": 0.35, "A": 0.3}, {"丁": 0.9}, {"7": 0.8}), FOLD)
    assert ctc.text(chars) == "A7"
    assert chars[0].prob == pytest.approx(0.65)


def test_candidates_are_ranked_by_probability():
    probs = frames({"8": 0.6, "B": 0.35}, {}, {"0": 0.55, "O": 0.4}, {}, {"7": 0.99})
    cands = ctc.candidates(ctc.decode(probs, FOLD), n=4)
    assert [t for t, _ in cands] == ["807", "8O7", "B07", "BO7"]
    confs = [c for _, c in cands]
    assert confs == sorted(confs, reverse=True)
    assert confs[0] == pytest.approx(0.6 * 0.55 * 0.99, rel=1e-5)
    assert confs[3] == pytest.approx(0.35 * 0.4 * 0.99, rel=1e-5)


def test_nothing_decoded_from_blank_frames():
    chars = ctc.decode(frames({}, {"-": 0.9}), FOLD)
    assert chars == [] and ctc.confidence(chars) == 0.0 and ctc.candidates(chars) == []


def test_fragments_of_one_line_are_joined_and_others_are_not():
    left, right = rect(100, 50, 145, 70), rect(160, 52, 200, 71)  # "627" and "WWI", a 15 px gap
    above = rect(100, 10, 200, 25)  # the state name: another line
    far = rect(400, 50, 440, 70)  # another car's plate on the same row
    joined = joined_fragments([left, right, above, far])
    assert len(joined) == 1
    np.testing.assert_allclose(joined[0], rect(100, 50, 200, 71))
    assert joined_fragments([left, above]) == []


def test_two_rows_of_one_height_pair_and_a_state_name_does_not():
    top, bottom = rect(100, 50, 160, 80), rect(95, 86, 170, 116)  # "AB12" over "CDE" on a motorcycle plate
    state = rect(100, 10, 200, 32)  # a US plate's state name over its 40 px characters
    chars = rect(95, 36, 205, 76)
    beside = rect(300, 86, 360, 116)  # same height, but another plate further along
    assert stacked_rows([bottom, top, beside]) == [(1, 0)]
    assert stacked_rows([state, chars]) == []
    assert stacked_rows([rect(100, 50, 115, 80), bottom]) == []  # a lone badge is far narrower
    assert stacked_rows([top, rect(95, 160, 170, 190)]) == []  # too far below


def test_plate_box_is_the_plate_around_its_character_line():
    box = plate_box(rect(100, 50, 200, 80), 1280, 720)
    assert (box.x, box.w) == (100, 100)
    assert box.h == 50 and box.y + box.h / 2 == pytest.approx(65, abs=1)  # 2:1, same centre
    clipped = plate_box(rect(0, 0, 60, 10), 1280, 720)
    assert clipped.y == 0 and clipped.h <= 20


def test_grow_moves_top_and_bottom_edges():
    q = grow(rect(0, 10, 100, 30), 0.5, -0.25)
    np.testing.assert_allclose(q, rect(0, 0, 100, 25))


def test_a_found_plate_is_judged_by_its_reading_and_a_line_anywhere_as_read():
    # A US plate's O is 0: CKOAIP in a plate's band is the plate CK0AIP; on a dealer frame or a
    # sign anywhere in the frame the same word stays a word.
    assert plate_plausible("CKOAIP", "CK0AIP")
    assert not text_plausible("CKOAIP", "CK0AIP")
    assert text_plausible("CK0AIP", "CK0AIP")
    assert not plate_plausible("OREGON", "OREGON")  # where O is a letter, no digit: no plate
