"""Merging the fast reader's plates with PP-OCR's: one reading per place, the more confident."""

from alpr.domain import Box
from detectors.base import PlateText
from detectors.cascade import merge


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
