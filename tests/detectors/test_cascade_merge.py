"""The cascade's pure parts: the window PP-OCR rereads, and merging the fast reader's plates with
PP-OCR's (one reading per place, the more confident)."""

import numpy as np

from alpr.domain.types import Box
from detectors.base import PlateText
from detectors.cascade import grown, merge, shifted, window
from detectors.ppocr import _touches


def plate(text: str, x: int, confidence: float) -> PlateText:
    return PlateText(box=Box(x, 100, 120, 60), corners=(), raw_text=text, plate=text, confidence=confidence,
                     det_confidence=0.9)


def test_overlapping_reads_keep_the_more_confident_and_others_all_stay():
    fast = [plate("ABC123", 100, 0.6), plate("XYZ789", 900, 0.95)]
    thorough = [plate("ABC128", 110, 0.8), plate("QRS456", 500, 0.7)]
    assert [p.plate for p in merge(fast, thorough)] == ["ABC128", "QRS456", "XYZ789"]  # left to right


def test_merging_with_nothing_keeps_everything():
    reads = [plate("ABC123", 100, 0.6), plate("ABC124", 400, 0.5)]
    assert merge(reads, []) == reads and merge([], reads) == reads


def test_the_reread_window_is_three_plates_each_way_and_at_least_a_third_of_the_frame():
    assert window(Box(600, 300, 100, 50), 1280, 720) == Box(426, 199, 448, 252)  # 0.35 of the frame, centred
    assert window(Box(400, 300, 300, 150), 1280, 720) == Box(100, 150, 900, 450)  # three plates each way
    # At an edge it shifts inside the frame, keeping its size; a small frame is read whole.
    assert window(Box(1200, 680, 80, 40), 1280, 720) == Box(832, 468, 448, 252)
    assert window(Box(10, 10, 80, 40), 200, 100) == Box(0, 0, 200, 100)


def test_the_lines_read_again_reach_into_the_weak_plate_grown():
    assert grown(Box(600, 300, 100, 50), 2.0) == Box(550, 275, 200, 100)
    assert _touches(np.array([[700, 360], [800, 360], [800, 380], [700, 380]], np.float32), Box(550, 275, 200, 100))
    assert not _touches(np.array([[760, 300], [900, 300], [900, 320], [760, 320]], np.float32), Box(550, 275, 200, 100))


def test_plates_read_in_a_window_are_moved_into_frame_pixels():
    read = PlateText(box=Box(10, 20, 120, 60), corners=((10, 20), (130, 20), (130, 80), (10, 80)), raw_text="ABC123",
                     plate="ABC123", confidence=0.9, det_confidence=0.8)
    moved = shifted(read, 300, 100)
    assert moved.box == Box(310, 120, 120, 60) and moved.corners == ((310, 120), (430, 120), (430, 180), (310, 180))
    assert (moved.plate, moved.confidence) == (read.plate, read.confidence)
