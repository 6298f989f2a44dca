"""The images kept with every read: the plate crop, with context to judge the read, and a small scene."""

from __future__ import annotations

import cv2
import numpy as np

from alpr.domain.boxes import padded
from alpr.domain.types import Box
from alpr.messages.frames import encode_jpeg

CROP_PAD = 0.15  # of the plate box on each side: enough to see a misread character's neighbours
SCENE_MAX_SIDE = 640  # enough to see the vehicle and the place, small on disk


def plate_crop(image: np.ndarray, box: Box) -> bytes:
    """The plate and a margin around it, as JPEG."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = padded(box.x, box.y, box.x + box.w, box.y + box.h, CROP_PAD, CROP_PAD, w, h)
    return encode_jpeg(image[y0:y1, x0:x1], quality=92)


def scene(image: np.ndarray) -> bytes:
    """The whole frame, at most SCENE_MAX_SIDE on its longer side, as JPEG."""
    h, w = image.shape[:2]
    scale = min(1.0, SCENE_MAX_SIDE / max(h, w))
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return encode_jpeg(small, quality=75)


def plate_from_crop(crop_jpeg: bytes, box: Box) -> np.ndarray:
    """The tight plate out of a stored crop (``plate_crop`` of a frame, the box in frame pixels), as
    a seg_and_ocr crop is: the crop's origin is where ``padded`` put it."""
    image = cv2.imdecode(np.frombuffer(crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("the stored crop is not a readable JPEG")
    x0, y0, _, _ = padded(box.x, box.y, box.x + box.w, box.y + box.h, CROP_PAD, CROP_PAD, 1 << 30, 1 << 30)
    return image[box.y - y0:box.y - y0 + box.h, box.x - x0:box.x - x0 + box.w]
