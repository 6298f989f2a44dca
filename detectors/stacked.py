"""Stacked characters beside a plate's serial: the small letters printed one above the other at
either end of many US plates (``RT`` on Massachusetts specialty plates, ``NG`` in Oregon, a month
or a county code). They are not part of the plate number, but a line recognizer reads one of them
as an extra character (``R72LY`` for ``72LY``). Found from the crop's ink alone: connected
components of the text's polarity, the serial's characters as the run of tall ones of one height,
and small characters as two components about half that height, one above the other or side by side
(``59`` after New Jersey's ``10DTM``), fully outside the serial at its left or right end.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_SERIAL = 3  # characters of one height that make a serial
SAME_HEIGHT = 0.15  # of the serial's height: a character taller or shorter by more is not one of them
STACKED_HEIGHT = (0.25, 0.6)  # each small character, as a share of the serial's height
STACKED_SPAN = 0.75  # together the pair spans at least this share of the serial's height


def _components(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of the ink components, ink being the minority side of an Otsu threshold over
    the middle rows (dark text on a light plate, or light on dark): the other side would give the
    holes of 0, 8 and B, which stack like small characters."""
    _, dark = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    h = gray.shape[0]
    middle = dark[int(0.25 * h):int(0.8 * h)]
    ink = dark if middle.mean() < 127.5 else 255 - dark
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    return [tuple(int(v) for v in stats[i, :4]) for i in range(1, n)]


def serial_span(crop: np.ndarray) -> tuple[int, int] | None:
    """The columns ``(x0, x1)`` to read when small characters sit beside the serial: the crop's
    width less those at the left or right end (cut halfway between them and the serial), or None
    when there are none (then read the whole width)."""
    h, w = crop.shape[:2]
    if h < 16 or w < 32:
        return None
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    parts = [c for c in _components(gray) if 0.15 * h < c[3] < 0.95 * h and c[2] < 0.3 * w]
    tall = [c for c in parts if c[3] >= 0.35 * h and 0.08 * c[3] <= c[2] <= 1.2 * c[3]]
    if len(tall) < MIN_SERIAL:
        return None
    height = float(np.median([c[3] for c in tall]))
    serial = [c for c in tall if abs(c[3] - height) <= SAME_HEIGHT * height]
    if len(serial) < MIN_SERIAL:
        return None
    top = float(np.median([c[1] for c in serial]))
    bottom = float(np.median([c[1] + c[3] for c in serial]))
    first, last = min(c[0] for c in serial), max(c[0] + c[2] for c in serial)
    small = [c for c in parts if STACKED_HEIGHT[0] * height <= c[3] <= STACKED_HEIGHT[1] * height and c[2] >= 0.15 * c[3]
             and c[1] >= top - 0.15 * height and c[1] + c[3] <= bottom + 0.15 * height]
    x0, x1 = 0, w
    for end in ([c for c in small if c[0] + c[2] <= first], [c for c in small if c[0] >= last]):
        pairs = [(a, b) for a in end for b in end if a is not b and (_stacked(a, b, height) or _side_by_side(a, b))]
        if not pairs:
            continue
        left, right = min(min(a[0], b[0]) for a, b in pairs), max(max(a[0] + a[2], b[0] + b[2]) for a, b in pairs)
        if right <= first:
            x0 = (right + first) // 2
        else:
            x1 = (last + left + 1) // 2
    return (x0, x1) if (x0, x1) != (0, w) else None


def _stacked(a: tuple[int, ...], b: tuple[int, ...], height: float) -> bool:
    """``a`` above ``b``, sharing most of their columns, together nearly the serial's height."""
    shared = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    return (a[1] < b[1] and shared >= 0.5 * min(a[2], b[2]) and b[1] >= a[1] + a[3] - 0.1 * height
            and b[1] + b[3] - a[1] >= STACKED_SPAN * height)


def _side_by_side(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """``a`` left of ``b`` on one line, of one height (small characters in a row: ``59`` after ``10DTM``)."""
    rows = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return (a[0] + a[2] <= b[0] + 1 and b[0] - (a[0] + a[2]) <= max(a[3], b[3]) and rows >= 0.7 * max(a[3], b[3])
            and max(a[3], b[3]) <= 1.25 * min(a[3], b[3]))
