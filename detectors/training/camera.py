"""What a camera does to a picture last, shared by the training augmentations: noise and JPEG."""

from __future__ import annotations

import random

import cv2
import numpy as np


def noisy_jpeg(f: np.ndarray, rng: random.Random, noise: tuple[float, float], jpeg: tuple[float, int]) -> np.ndarray:
    """A camera's last steps on a float picture: sensor noise (with probability ``noise[0]``, sigma up to
    ``noise[1]``), then JPEG compression (probability ``jpeg[0]``, quality 30 up to ``jpeg[1]``)."""
    if rng.random() < noise[0]:
        f = f + np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(2, noise[1]), f.shape)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < jpeg[0]:
        _, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(30, jpeg[1])])
        out = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return out
