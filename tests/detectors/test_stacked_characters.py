"""Small characters beside a plate's serial (detectors.stacked): pure image logic, no models."""

import cv2
import numpy as np
from PIL import Image, ImageDraw

from alpr.dev.simulator.render import font
from detectors.stacked import serial_span


def plate(serial: str, left: str = "", right: str = "", row: str = "", dark: bool = False,
          size: tuple[int, int] = (320, 160)) -> np.ndarray:
    """A plate crop, BGR: the serial in large type; ``left`` stacked one above the other before it,
    ``right`` stacked after it, ``row`` small side by side after it."""
    w, h = size
    ink, paper = ((235, 235, 235), (30, 40, 90)) if dark else ((20, 20, 120), (240, 240, 240))
    img = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(img)
    big, small = font(80), font(36)
    serial_w = draw.textlength(serial, font=big)
    x = (w - serial_w) / 2
    draw.text((x, h / 2), serial, font=big, fill=ink, anchor="lm")
    for text, cx in ((left, x - 22), (right, x + serial_w + 22)):
        for i, ch in enumerate(text):
            draw.text((cx, h / 2 + (i - 0.5) * 40), ch, font=small, fill=ink, anchor="mm")
    if row:
        draw.text((x + serial_w + 8, h / 2 + 10), row, font=small, fill=ink, anchor="lm")
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def serial_columns(crop: np.ndarray, serial: str) -> tuple[int, int]:
    """Where the serial's ink lies: the columns of a copy drawn without the small characters."""
    alone = plate(serial, size=(crop.shape[1], crop.shape[0]))
    cols = np.flatnonzero((cv2.cvtColor(alone, cv2.COLOR_BGR2GRAY) < 128).any(0))
    return int(cols[0]), int(cols[-1])


def test_stacked_letters_before_the_serial_are_cut_off():
    crop = plate("72LY", left="RT")
    first, last = serial_columns(crop, "72LY")
    x0, x1 = serial_span(crop)
    assert x1 == crop.shape[1] and 0 < x0 < first
    # Nothing of the stacked letters is left in the span.
    stack_ink = np.flatnonzero((cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) < 128)[:, :first].any(0))
    assert stack_ink.max() < x0


def test_stacked_letters_after_the_serial_and_light_text_on_dark():
    for crop in (plate("2250", right="ES"), plate("2250", right="ES", dark=True)):
        _, last = serial_columns(crop, "2250")
        x0, x1 = serial_span(crop)
        assert x0 == 0 and last < x1 < crop.shape[1]


def test_small_characters_side_by_side_after_the_serial_are_cut_off():
    crop = plate("10DTM", row="59", size=(400, 160))
    _, last = serial_columns(crop, "10DTM")
    x0, x1 = serial_span(crop)
    assert x0 == 0 and last < x1 < crop.shape[1]


def test_plain_serials_are_read_whole():
    # The holes of 0, 8 and B stack like small characters on the other side of the threshold.
    for serial in ("800 002", "B80 8BB", "ABC1234", "4779"):
        assert serial_span(plate(serial)) is None, serial
    assert serial_span(np.full((10, 40, 3), 200, np.uint8)) is None  # too small to tell
