"""Growing a plate box before cutting it out: the one place that decides how much context a cut keeps.

A tight detector box clips the outer characters, so readers cut a little more than the box; the
stored crop keeps more still, for a person to judge the read. Pure arithmetic: callers slice.
"""

from __future__ import annotations


def padded(x0: float, y0: float, x1: float, y1: float, pad_x: float, pad_y: float, width: int, height: int,
           extra_px: float = 0.0) -> tuple[int, int, int, int]:
    """Slice bounds (x0, y0, x1, y1) of the box grown by ``pad_x`` of its width left and right,
    ``pad_y`` of its height above and below, and ``extra_px`` on every side, within the image."""
    px, py = (x1 - x0) * pad_x + extra_px, (y1 - y0) * pad_y + extra_px
    return int(max(0, x0 - px)), int(max(0, y0 - py)), int(min(width, x1 + px)), int(min(height, y1 + py))
