"""The plate detector's pre- and post-processing: letterbox, box decoding, clipping and NMS."""

import numpy as np
import pytest

from detectors.yolo import decode, letterbox


@pytest.mark.parametrize("h, w", [(720, 1280), (1280, 720), (333, 500)])
@pytest.mark.parametrize("size", [(320, 320), (384, 640)])
def test_letterbox_centres_the_scaled_frame(h, w, size):
    image = np.zeros((h, w, 3), np.uint8)
    canvas, r, left, top = letterbox(image, size)
    assert canvas.shape == (*size, 3) and r == pytest.approx(min(size[0] / h, size[1] / w))
    nw, nh = round(w * r), round(h * r)
    assert (left, top) == ((size[1] - nw) // 2, (size[0] - nh) // 2)
    assert (canvas[top:top + nh, left:left + nw] == 0).all()  # the frame
    assert (canvas == 114).sum() == 3 * (size[0] * size[1] - nw * nh)  # grey padding around it


def test_a_16_9_input_pads_a_720p_frame_only_up_to_a_multiple_of_32():
    canvas, r, left, top = letterbox(np.zeros((720, 1280, 3), np.uint8), (384, 640))
    assert (r, left, top) == (0.5, 0, 12) and (canvas == 114).sum() == 3 * 640 * 24  # 360 of 384 rows are frame


def to_canvas(box, r, left, top):
    """A frame box (x0, y0, x1, y1) as the model's (cx, cy, w, h) on the canvas."""
    x0, y0, x1, y1 = (v * r for v in box)
    return [(x0 + x1) / 2 + left, (y0 + y1) / 2 + top, x1 - x0, y1 - y0]


@pytest.mark.parametrize("h, w", [(720, 1280), (1280, 720)])  # padding on top and bottom, then left and right
def test_decode_maps_back_to_frame_pixels_suppresses_overlaps_and_clips(h, w):
    _, r, left, top = letterbox(np.zeros((h, w, 3), np.uint8), (320, 320))
    plate, near_copy, other, off_edge = (400, 300, 520, 360), (404, 302, 522, 362), (100, 600, 200, 650), (-30, 10, 60, 50)
    rows = [[*to_canvas(plate, r, left, top), 0.9], [*to_canvas(near_copy, r, left, top), 0.8],
            [*to_canvas(other, r, left, top), 0.6], [*to_canvas(off_edge, r, left, top), 0.5],
            [*to_canvas((700, 100, 760, 130), r, left, top), 0.1]]  # below the threshold
    boxes, scores = decode(np.array(rows, np.float32), r, left, top, w, h, threshold=0.25)

    assert scores.tolist() == pytest.approx([0.9, 0.6, 0.5])  # best first, the near copy suppressed
    assert boxes[0] == pytest.approx(plate, abs=0.01)
    assert boxes[1] == pytest.approx(other, abs=0.01)
    assert boxes[2] == pytest.approx((0, 10, 60, 50), abs=0.01)  # clipped to the frame


def test_decode_with_nothing_above_the_threshold():
    boxes, scores = decode(np.array([[10, 10, 5, 5, 0.1]], np.float32), 0.25, 0, 40, 1280, 720, 0.25)
    assert boxes.shape == (0, 4) and scores.shape == (0,)
